// A 2-D principal component projection, in the browser, of a sample of a collection's vectors.
//
// Power iteration on the covariance without forming it (v <- Xᵀ(X v), O(n·d) per step, no
// d×d matrix), the second axis kept orthogonal to the first. Deterministic: the same sample
// gives the same picture, and each axis's sign is fixed (its largest coordinate positive).

// Each step moves the axis by the ratio of the next eigenvalue to its own: a picture needs
// far less than 1e-10, but a close pair of eigenvalues needs many steps to settle at all.
// 500 steps over a 2,000 × 384 sample is about a second in the browser, the worst case.
const MAX_STEPS = 500;
const TOLERANCE = 1e-20; // squared change of the unit axis between two steps

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

// Xᵀ(X v) over the centred rows.
function covarianceTimes(rows, v) {
  const out = new Float64Array(v.length);
  for (const row of rows) {
    const p = dot(row, v);
    for (let i = 0; i < row.length; i++) out[i] += p * row[i];
  }
  return out;
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

function principalAxis(rows, dims, previous) {
  // A start with a component along every direction (unless the data has none there).
  let v = new Float64Array(dims);
  for (let i = 0; i < dims; i++) v[i] = 1 + ((i * 7919) % 101) / 101;
  if (previous) removeComponent(v, previous);
  normalise(v);
  for (let step = 0; step < MAX_STEPS; step++) {
    const next = covarianceTimes(rows, v);
    if (previous) removeComponent(next, previous);
    if (normalise(next) === 0) return new Float64Array(dims); // no variance left
    let change = 0;
    for (let i = 0; i < dims; i++) change += (next[i] - v[i]) ** 2;
    v = next;
    if (change < TOLERANCE) break;
  }
  fixSign(v);
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
  const first = principalAxis(rows, dims, null);
  const second = principalAxis(rows, dims, first);
  const project = (v) => {
    let x = 0;
    let y = 0;
    for (let i = 0; i < dims; i++) {
      const c = v[i] - mean[i];
      x += c * first[i];
      y += c * second[i];
    }
    return [x, y];
  };
  return { mean, axes: [first, second], project };
}
