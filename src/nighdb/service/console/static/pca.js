// A 2-D principal component projection, in the browser, of a sample of a collection's vectors.
//
// The sample's scatter matrix is formed once in its smaller form (d×d covariance, or n×n Gram
// matrix when there are fewer vectors than dimensions: the same axes, through Xᵀ), then its
// two leading eigenvectors are found by power iteration, the second kept orthogonal to the
// first. Forming the matrix costs n·m²/2 for m = min(n, d); each iteration then costs only m²,
// so the many iterations that close eigenvalues need stay cheap. Deterministic: the same
// sample gives the same picture, and each axis's sign is fixed (its largest coordinate
// positive).

const MAX_STEPS = 3000;
const TOLERANCE = 1e-20; // squared change of the unit vector between two steps

function dot(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function normalise(v) {
  const norm = Math.sqrt(dot(v, v));
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return norm;
}

function removeComponent(v, axis) {
  const p = dot(v, axis);
  for (let i = 0; i < v.length; i++) v[i] -= p * axis[i];
}

function fixSign(v) {
  let largest = 0;
  for (let i = 1; i < v.length; i++) if (Math.abs(v[i]) > Math.abs(v[largest])) largest = i;
  if (v[largest] < 0) for (let i = 0; i < v.length; i++) v[i] = -v[i];
}

// The symmetric m×m matrix of the pairwise dot products of `vectors` (each of length m's
// partner): Σ v vᵀ over the rows when `byColumn`, else the Gram matrix of the rows.
function scatter(rows, dims, byColumn) {
  const m = byColumn ? dims : rows.length;
  const out = new Float64Array(m * m);
  if (byColumn) {
    for (const r of rows) {
      for (let i = 0; i < dims; i++) {
        const ri = r[i];
        if (ri === 0) continue;
        const base = i * m;
        for (let j = i; j < dims; j++) out[base + j] += ri * r[j];
      }
    }
  } else {
    for (let a = 0; a < m; a++) for (let b = a; b < m; b++) out[a * m + b] = dot(rows[a], rows[b]);
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) out[i * m + j] = out[j * m + i];
  return { matrix: out, m };
}

function times({ matrix, m }, v) {
  const out = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = 0;
    const base = i * m;
    for (let j = 0; j < m; j++) s += matrix[base + j] * v[j];
    out[i] = s;
  }
  return out;
}

function leadingEigenvector(sym, previous) {
  const { m } = sym;
  // A start with a component along every direction (unless the data has none there).
  let v = new Float64Array(m);
  for (let i = 0; i < m; i++) v[i] = 1 + ((i * 7919) % 101) / 101;
  if (previous) removeComponent(v, previous);
  normalise(v);
  for (let step = 0; step < MAX_STEPS; step++) {
    const next = times(sym, v);
    if (previous) removeComponent(next, previous);
    if (normalise(next) === 0) return new Float64Array(m); // no variance left
    let change = 0;
    for (let i = 0; i < m; i++) change += (next[i] - v[i]) ** 2;
    v = next;
    if (change < TOLERANCE) break;
  }
  return v;
}

// vectors: arrays of numbers, all of one length. Returns the mean, the two axes and
// project(vector) -> [x, y] for any vector of the same length (a search hit, the query).
export function pca2(vectors) {
  const dims = vectors.length ? vectors[0].length : 0;
  const mean = new Float64Array(dims);
  for (const v of vectors) for (let i = 0; i < dims; i++) mean[i] += v[i];
  for (let i = 0; i < dims; i++) mean[i] /= Math.max(vectors.length, 1);
  const rows = vectors.map((v) => Float64Array.from(v, (x, i) => x - mean[i]));
  const byColumn = dims <= rows.length;
  const sym = scatter(rows, dims, byColumn);
  const first = leadingEigenvector(sym, null);
  const second = leadingEigenvector(sym, first);
  const axes = [first, second].map((u) => {
    if (byColumn) return u;
    // An eigenvector u of X Xᵀ gives the axis Xᵀu of Xᵀ X.
    const axis = new Float64Array(dims);
    rows.forEach((r, a) => {
      for (let i = 0; i < dims; i++) axis[i] += u[a] * r[i];
    });
    normalise(axis);
    return axis;
  });
  axes.forEach(fixSign);
  const project = (v) => {
    let x = 0;
    let y = 0;
    for (let i = 0; i < dims; i++) {
      const c = v[i] - mean[i];
      x += c * axes[0][i];
      y += c * axes[1][i];
    }
    return [x, y];
  };
  return { mean, axes, project };
}
