// The UMAP fit, in a Web Worker (started by umap.js), so the page keeps responding while
// umap-js finds the neighbours (one long step) and runs its epochs. A classic worker:
// importScripts loads the vendored bundle, from this origin, which sets the global `UMAP`.
//
// Message in: {vectors, metric, neighbours, epochs, seed}. Messages out: {epoch} now and
// then, then {positions} (or {error}). The page stops a fit by terminating the worker.

importScripts("vendor/umap-js.min.js");

const REPORT_EVERY_MS = 100;

// mulberry32: a small, fast generator of numbers in [0, 1) from a 32-bit seed.
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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

self.onmessage = (event) => {
  const { vectors, metric, neighbours, epochs, seed } = event.data;
  try {
    const params = { nComponents: 2, nNeighbors: neighbours, nEpochs: epochs, random: seeded(seed) };
    // umap-js's default distance is euclidean, the collection's for "l2"
    if (metric !== "l2") params.distanceFn = cosineDistance;
    const model = new self.UMAP.UMAP(params);
    model.initializeFit(vectors);
    let reported = performance.now();
    for (let epoch = 0; epoch < epochs; epoch = model.step()) {
      if (performance.now() - reported > REPORT_EVERY_MS) {
        self.postMessage({ epoch });
        reported = performance.now();
      }
    }
    self.postMessage({ positions: model.getEmbedding().map((p) => [p[0], p[1]]) });
  } catch (err) {
    self.postMessage({ error: String(err.message || err) });
  }
};
