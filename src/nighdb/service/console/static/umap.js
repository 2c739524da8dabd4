// UMAP, the map's other projection: umap-js (vendor/README.md), fitted in a Web Worker.
//
// umap-worker.js loads the bundle (a classic script from this origin, which the
// Content-Security-Policy allows) and fits the sample there, so the page keeps responding;
// nothing of it is loaded until UMAP is chosen. The work is bounded and repeatable: a fixed
// number of epochs, 15 neighbours, and a seeded random generator, so the same sample gives
// the same picture. Drawing another map stops a fit under way (the worker is terminated).
//
// The hits and the query are placed where UMAP's own `transform` starts them: at the average
// of the map positions of their 15 nearest items of the sample, weighted by UMAP's membership
// strengths. umap-js's `transform` then runs a further optimisation, whose repulsion from
// random points pushes a new point away from its neighbours (as in the Python UMAP: the new
// points land on the outskirts of clusters). Measured on the demo data (a map of 2,000
// glosses, 5 queries and their 10 hits each), the mean distance between two hits of a query
// was 12-39% of the map's width after umap-js's transform and 1-13% at the start, and the
// query lay up to 40% of the width from its hits' centre (at the start: at most 5%).

const WORKER = new URL("umap-worker.js", import.meta.url).href;
export const NEIGHBOURS = 15;
export const EPOCHS = 240;
const SEED = 0x19a9;

function euclidean(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function cosineDistance(a, b) {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (aa === 0 || bb === 0) return aa === bb ? 0 : 1;
  return 1 - ab / Math.sqrt(aa * bb);
}

// The weights of a point's neighbours at these distances (ascending), as UMAP's transform
// computes them: exp(-d / σ), σ chosen (by bisection) so that they sum to log2(k), then
// scaled to sum to 1.
function memberships(distances) {
  const target = Math.log2(distances.length);
  const total = (sigma) => distances.reduce((sum, d) => sum + Math.exp(-d / sigma), 0);
  let [low, high] = [0, Infinity];
  let sigma = 1;
  for (let step = 0; step < 64; step++) {
    if (total(sigma) > target) high = sigma;
    else low = sigma;
    sigma = high === Infinity ? sigma * 2 : (low + high) / 2;
  }
  const weights = distances.map((d) => Math.exp(-d / Math.max(sigma, 1e-12)));
  const sum = weights.reduce((a, b) => a + b, 0);
  return sum > 0 ? weights.map((w) => w / sum) : weights.map(() => 1 / weights.length);
}

// vectors: arrays of numbers, all of one length (more than NEIGHBOURS of them); metric: the
// collection's ("l2" is euclidean, "cosine" and "ip" compare directions). onEpoch(done, of)
// reports progress and returns false to stop the fit (umap2 then returns null). Returns the
// sample's positions [[x, y], …] and place(vectors) -> the positions of other vectors (a
// search's hits, the query) on the same map.
export async function umap2(vectors, metric, onEpoch = () => true) {
  if (vectors.length <= NEIGHBOURS) {
    throw new Error(`UMAP needs more than ${NEIGHBOURS} items (the sample has ${vectors.length}); PCA maps any number`);
  }
  const data = vectors.map((v) => Array.from(v));
  if (onEpoch(0, EPOCHS) === false) return null;
  const positions = await new Promise((resolve, reject) => {
    const worker = new Worker(WORKER);
    const stop = (settle) => {
      worker.terminate();
      settle();
    };
    worker.onmessage = ({ data: answer }) => {
      if (answer.epoch !== undefined) {
        if (onEpoch(answer.epoch, EPOCHS) === false) stop(() => resolve(null));
      } else if (answer.error !== undefined) {
        stop(() => reject(new Error(`UMAP failed: ${answer.error}`)));
      } else {
        stop(() => resolve(answer.positions));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      stop(() => reject(new Error(`UMAP is not available: its worker or umap-js's script (console/static/vendor/umap-js.min.js) did not load (${event.message || "no detail"})`)));
    };
    worker.postMessage({ vectors: data, metric, neighbours: NEIGHBOURS, epochs: EPOCHS, seed: SEED });
  });
  if (positions === null) return null;
  const distance = metric === "l2" ? euclidean : cosineDistance;
  // Exact neighbours: n distances per vector placed, for a handful of hits and a query.
  const place = (more) => more.map((vector) => {
    const v = Array.from(vector);
    const near = data.map((row, i) => [distance(v, row), i]).sort((a, b) => a[0] - b[0]).slice(0, NEIGHBOURS);
    const weights = memberships(near.map(([d]) => d));
    let [x, y] = [0, 0];
    near.forEach(([, i], k) => {
      x += weights[k] * positions[i][0];
      y += weights[k] * positions[i][1];
    });
    return [x, y];
  });
  return { positions, place };
}
