// UMAP, the map's other projection: umap-js (vendor/README.md), loaded on first use.
//
// The bundle is a classic script that sets the global `UMAP`; it is added to the page as a
// <script> from this origin (which the Content-Security-Policy allows) only when UMAP is
// chosen, so a PCA map never downloads it. The work is bounded and repeatable: a fixed number
// of epochs, 15 neighbours, and a seeded random generator, so the same sample gives the same
// picture. The hits and the query are placed into the fitted map with umap-js's `transform`.

const BUNDLE = new URL("vendor/umap-js.min.js", import.meta.url).href;
export const NEIGHBOURS = 15;
// A multiple of 3: umap-js's `transform` runs EPOCHS / 3 epochs and stops only when its
// epoch counter equals that number exactly.
export const EPOCHS = 240;
const SEED = 0x19a9;
const YIELD_AFTER_MS = 40; // give the page a turn this often while fitting

let loading = null;

// The UMAP class of the bundle, loading it once.
export function loadUmap() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = BUNDLE;
      script.onload = () => {
        const found = globalThis.UMAP && globalThis.UMAP.UMAP;
        if (found) resolve(found);
        else reject(new Error("UMAP is not available: its script loaded but defined no UMAP"));
      };
      script.onerror = () => {
        loading = null; // a later choice of UMAP tries again
        reject(new Error("UMAP is not available: this installation does not serve its script (console/static/vendor/umap-js.min.js)"));
      };
      document.head.appendChild(script);
    });
  }
  return loading;
}

// mulberry32: a small, fast generator of numbers in [0, 1) from a 32-bit seed.
function seeded(seed) {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  random.reset = () => {
    state = seed >>> 0;
  };
  return random;
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

const pause = () => new Promise((resolve) => setTimeout(resolve, 0));

// vectors: arrays of numbers, all of one length (more than NEIGHBOURS of them); metric: the
// collection's ("l2" is euclidean, "cosine" and "ip" compare directions). onEpoch(done, of)
// reports progress and returns false to stop the fit (then umap2 returns null). Returns the sample's positions [[x, y], …] and place(vectors) -> positions
// of other vectors (a search's hits, the query) in the same map.
export async function umap2(vectors, metric, onEpoch = () => true) {
  if (vectors.length <= NEIGHBOURS) {
    throw new Error(`UMAP needs more than ${NEIGHBOURS} items (the sample has ${vectors.length}); PCA maps any number`);
  }
  const UMAP = await loadUmap();
  const random = seeded(SEED);
  const params = { nComponents: 2, nNeighbors: NEIGHBOURS, nEpochs: EPOCHS, random };
  if (metric !== "l2") params.distanceFn = cosineDistance;
  const model = new UMAP(params);
  const data = vectors.map((v) => Array.from(v));
  if (onEpoch(0, EPOCHS) === false) return null;
  await pause(); // let the page show that before the neighbour graph, one synchronous step
  model.initializeFit(data);
  let started = performance.now();
  for (let epoch = 0; epoch < EPOCHS; epoch = model.step()) {
    if (performance.now() - started > YIELD_AFTER_MS) {
      if (onEpoch(epoch, EPOCHS) === false) return null;
      await pause(); // a few dozen pauses, not one per epoch (timers are slow in a hidden tab)
      started = performance.now();
    }
  }
  const positions = model.getEmbedding().map((p) => [p[0], p[1]]); // a copy, out of place()'s reach
  const place = (more) => {
    if (!more.length) return [];
    // umap-js's transform moves the fitted points too when it is given exactly as many
    // vectors as were fitted: such a batch goes in two calls.
    if (more.length === data.length) return [...place(more.slice(0, 1)), ...place(more.slice(1))];
    random.reset(); // the same vectors land in the same places, whatever was placed before
    return model.transform(more.map((v) => Array.from(v))).map((p) => [p[0], p[1]]);
  };
  return { positions, place };
}
