// The console's page logic: sign in, the tenant's collections, the item browser, search and
// the map. Every value from the service is shown with textContent, never as HTML.

import { Api, ApiError, searchTakesText } from "./api.js";
import { pca2 } from "./pca.js";
import { colouring, draw } from "./plot.js";
import { sampleItems } from "./sample.js";
import { EPOCHS, NEIGHBOURS, umap2 } from "./umap.js";

const KEY = "nigh.console.key"; // sessionStorage: gone when the tab closes

const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  admin: false,
  collection: null, // the pin of the collection shown
  filter: {},
  cursors: [], // `after` of each page shown so far (paging back to the first)
  next: null,
  map: null, // {items, which, method, positions, place, hits, query, screen}
  mapRun: 0, // bumped by each map drawn and collection opened: a slower earlier one is dropped
  hits: [], // [{id, vector}] of the last search
  query: null,
  detailVector: null, // the full vector of the item shown (the panel shows its head)
};

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.className = isError ? "error" : "";
}

function fail(err) {
  if (err instanceof ApiError) {
    if (err.status === 401 && state.api) showSignIn(); // revoked meanwhile: forget the key
    say(`${err.code}: ${err.message}`, true);
  } else {
    say(String(err.message || err), true);
  }
}

function showSignIn() {
  sessionStorage.removeItem(KEY);
  state.api = null;
  $("workspace").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function clear(element) {
  while (element.firstChild) element.removeChild(element.firstChild);
}

function short(text, length = 80) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`the ${what} is not valid JSON: ${err.message}`);
  }
}

// -- signing in --------------------------------------------------------------------------

async function signIn(key) {
  const api = new Api(key);
  const who = await api.whoami(); // 401 for a wrong key: nothing is kept
  sessionStorage.setItem(KEY, key);
  state.api = api;
  state.admin = who.admin;
  $("sign-in").hidden = true;
  $("who").hidden = false;
  $("workspace").hidden = false;
  $("admin-picker").hidden = !who.admin;
  $("text-row").hidden = !(await searchTakesText());
  if (who.admin) {
    const { tenants } = await api.tenants();
    const list = $("tenant-list");
    clear(list);
    for (const t of tenants) {
      const option = document.createElement("option");
      option.value = t;
      list.appendChild(option);
    }
    if (tenants.length) await showTenant(tenants[0]);
    else say("signed in with an admin key: type a tenant to show");
  } else {
    await showTenant(who.tenant);
  }
}

function signOut() {
  sessionStorage.removeItem(KEY);
  window.location.reload();
}

async function showTenant(tenant) {
  if (state.admin) state.api.tenant = tenant; // a tenant key always uses its own routes
  $("tenant-name").textContent = tenant;
  $("tenant-choice").value = tenant;
  $("collection").hidden = true;
  await loadCollections();
}

// -- collections -------------------------------------------------------------------------

async function loadCollections() {
  const { collections } = await state.api.listCollections();
  // A few at a time: the tenant's concurrency budget (429 beyond it) is shared with its
  // other clients. A failed look-up shows "?" rather than hiding the collection.
  const indexes = [];
  for (let at = 0; at < collections.length; at += 4) {
    const batch = collections.slice(at, at + 4);
    indexes.push(...(await Promise.all(
      batch.map((c) => state.api.describeIndex(c.name).then((a) => a.index, () => undefined)),
    )));
  }
  const body = $("collections").tBodies[0];
  clear(body);
  collections.forEach((c, i) => {
    const row = body.insertRow();
    row.dataset.name = c.name;
    const link = document.createElement("button");
    link.type = "button";
    link.className = "link";
    link.textContent = c.name;
    link.addEventListener("click", () => openCollection(c).catch(fail));
    cell(row, "").appendChild(link);
    cell(row, String(c.count), "number");
    cell(row, String(c.dimensions), "number");
    cell(row, c.metric);
    cell(row, c.embedding_model || "—");
    const index = indexes[i];
    cell(row, index === undefined ? "?" : index === null ? "none (exact)" : `HNSW m=${index.m} ef_construction=${index.ef_construction}`);
  });
  $("no-collections").hidden = collections.length > 0;
  say(`${collections.length} collection${collections.length === 1 ? "" : "s"}`);
}

async function openCollection(pin) {
  state.collection = pin;
  state.hits = [];
  state.query = null;
  state.map = null;
  state.mapRun += 1;
  $("collection-name").textContent = pin.name;
  $("collection").hidden = false;
  $("detail").hidden = true;
  $("matches").hidden = true;
  $("filter").value = "{}";
  $("query").value = "";
  $("legend").textContent = "";
  // The map costs a sample's read and a projection: drawn when asked, as the note says.
  $("map-note").textContent = "Choose a projection and a sample size, then Draw map.";
  draw($("map"), [], [], null);
  await applyFilter();
}

// -- the item browser ---------------------------------------------------------------------

async function applyFilter() {
  const filter = parseJson($("filter").value.trim() || "{}", "filter");
  const name = state.collection.name;
  const { count } = await state.api.count(name, filter); // the service validates the filter
  state.filter = filter;
  state.cursors = [];
  $("count").textContent = `${count} item${count === 1 ? "" : "s"} match`;
  await loadPage(null);
}

async function loadPage(after) {
  const limit = Number($("page-size").value);
  const page = await state.api.scroll(state.collection.name, state.filter, after, limit);
  state.cursors.push(after);
  state.next = page.next;
  const body = $("items").tBodies[0];
  clear(body);
  for (const item of page.items) {
    const row = body.insertRow();
    row.dataset.id = item.id;
    row.addEventListener("click", () => showItem(item));
    cell(row, item.id, "id");
    const metadata = JSON.stringify(item.metadata);
    cell(row, short(metadata, 60)).title = metadata; // the cell may cut it: whole on hover
    cell(row, short(item.text || "", 60));
  }
  if (after === null && page.items.length) $("filter-example").textContent = filterExample(page.items[0].metadata);
  $("next-page").disabled = page.next === null;
  $("first-page").disabled = after === null;
  $("previous-page").disabled = after === null;
  say(`page ${state.cursors.length}: ${page.items.length} item${page.items.length === 1 ? "" : "s"}`);
}

// A filter on this collection's own fields, from an item's metadata, as the filter box's
// example: equality for text and booleans, a range for numbers (two fields at most).
function filterExample(metadata) {
  const example = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (Object.keys(example).length === 2) break;
    if (typeof value === "string" || typeof value === "boolean") example[key] = value;
    else if (typeof value === "number" && Number.isFinite(value)) example[key] = { gte: value };
  }
  return JSON.stringify(Object.keys(example).length ? example : { lang: "en", year: { gte: 2020 } });
}

function showItem(item) {
  $("detail").hidden = false;
  $("detail-id").textContent = item.id;
  $("detail-metadata").textContent = JSON.stringify(item.metadata, null, 2);
  $("detail-text").textContent = item.text || "(no text)";
  state.detailVector = item.vector || null;
  $("use-vector").hidden = !item.vector;
  if (item.vector) {
    const head = item.vector.slice(0, 8).map((x) => x.toPrecision(4)).join(", ");
    $("detail-vector").textContent = `${item.vector.length} dimensions: [${head}${item.vector.length > 8 ? ", …" : ""}]`;
  } else {
    $("detail-vector").textContent = "";
  }
}

async function showItemById(id) {
  const { items } = await state.api.fetchItems(state.collection.name, [id]);
  if (items.length) showItem(items[0]);
}

// -- search -------------------------------------------------------------------------------

async function search() {
  const request = { limit: Number($("limit").value) || 10, filter: state.filter };
  const vectorText = $("query").value.trim();
  if (vectorText) {
    const vector = parseJson(vectorText, "query vector");
    if (!Array.isArray(vector)) throw new Error("the query vector must be a JSON array of numbers");
    request.vector = vector;
  }
  const text = $("query-text").value.trim();
  if (!$("text-row").hidden && text) {
    request.text = text;
    request.text_weight = Number($("text-weight").value);
  }
  if (request.vector === undefined && request.text === undefined) {
    throw new Error("paste a query vector (a JSON array) first");
  }
  const name = state.collection.name;
  const { matches } = await state.api.search(name, request);
  const body = $("matches").tBodies[0];
  clear(body);
  matches.forEach((m, i) => {
    const row = body.insertRow();
    row.dataset.id = m.id;
    row.addEventListener("click", () => showItemById(m.id).catch(fail));
    cell(row, String(i + 1), "number");
    cell(row, m.id, "id");
    cell(row, m.score.toFixed(4), "number");
    cell(row, m.distance.toFixed(4), "number");
    cell(row, short(m.text || "", 60));
  });
  $("matches").hidden = false;
  say(`${matches.length} match${matches.length === 1 ? "" : "es"}`);
  // The hits' vectors (search answers carry none), to place them on the map.
  const ids = matches.map((m) => m.id);
  const fetched = ids.length ? (await state.api.fetchItems(name, ids)).items : [];
  state.hits = fetched.map((item) => ({ id: item.id, vector: item.vector }));
  state.query = request.vector || null;
  if (state.map) {
    placeSearch();
    redraw();
  }
}

// -- the map ------------------------------------------------------------------------------

async function drawMap() {
  const wanted = Number($("sample").value);
  const run = ++state.mapRun;
  say("reading the sample…");
  const { items, random } = await sampleItems(state.api, state.collection.name, state.filter, wanted);
  if (run !== state.mapRun) return;
  if (!items.length) {
    state.map = null;
    draw($("map"), [], [], null);
    $("legend").textContent = "";
    $("map-note").textContent = "";
    say("no items pass the filter: nothing to map");
    return;
  }
  const which = random ? "a random sample of the items that pass the filter" : items.length < wanted ? "every item that passes the filter" : "the first by id that pass the filter";
  await project(items, which, run);
}

// The chosen projection of the sample (also when only the projection changes: same sample).
async function project(items, which, run) {
  const method = $("projection").value;
  const vectors = items.map((item) => item.vector);
  let projection;
  if (method === "umap") {
    const progress = (done, of) => {
      if (run !== state.mapRun) return false; // stop: another map was asked for
      say(`UMAP of ${items.length} items: ${done ? `epoch ${done} of ${of}` : "finding neighbours"}…`);
      return true;
    };
    try {
      projection = await umap2(vectors, state.collection.metric, progress);
    } catch (err) {
      if (state.map) $("projection").value = state.map.method; // the map shown is unchanged
      throw err;
    }
  } else {
    const pca = pca2(vectors);
    projection = { positions: vectors.map(pca.project), place: (more) => more.map(pca.project) };
  }
  if (run !== state.mapRun) return; // another map was asked for meanwhile
  state.map = { items, which, method, ...projection, hits: [], query: null, screen: [] };
  placeSearch();
  fillColourChoices(items);
  redraw();
  const how = method === "umap" ? `UMAP (${NEIGHBOURS} neighbours, ${EPOCHS} epochs, seeded: the same sample gives the same map)` : "first two principal components";
  $("map-note").textContent = `${items.length} items (${which}), ${how}`;
  say(`map of ${items.length} items`);
}

async function reproject() {
  if (!state.map) return;
  const run = ++state.mapRun;
  await project(state.map.items, state.map.which, run);
}

// Where the last search's hits and query fall on the map. A hit in the sample is its point;
// others (and the query) are placed by the projection (on PCA's axes; for UMAP, among their
// nearest items of the sample).
function placeSearch() {
  const map = state.map;
  const dims = state.collection.dimensions;
  const index = new Map(map.items.map((item, i) => [item.id, i]));
  const hits = state.hits.filter((h) => h.vector && h.vector.length === dims);
  const outside = hits.filter((h) => !index.has(h.id)).map((h) => h.vector);
  const query = state.query && state.query.length === dims ? state.query : null;
  const placed = map.place(query ? [...outside, query] : outside);
  let at = 0;
  map.hits = hits.map((h) => {
    const [x, y] = index.has(h.id) ? map.positions[index.get(h.id)] : placed[at++];
    return { x, y, id: h.id };
  });
  map.query = query ? { x: placed[at][0], y: placed[at][1] } : null;
}

function fillColourChoices(items) {
  const select = $("colour-by");
  const current = select.value;
  const fields = new Set();
  for (const item of items.slice(0, 500)) for (const key of Object.keys(item.metadata)) fields.add(key);
  clear(select);
  const none = document.createElement("option");
  none.value = "";
  none.textContent = "(none)";
  select.appendChild(none);
  for (const field of [...fields].sort()) {
    const option = document.createElement("option");
    option.value = field;
    option.textContent = field;
    select.appendChild(option);
  }
  select.value = fields.has(current) ? current : "";
}

function redraw() {
  const { items, positions, hits, query } = state.map;
  const { colour, legend } = colouring(items, $("colour-by").value);
  const points = items.map((item, i) => {
    const [x, y] = positions[i];
    return { x, y, id: item.id, colour: colour(item.metadata) };
  });
  state.map.screen = draw($("map"), points, hits, query);
  const list = $("legend");
  clear(list);
  for (const [label, swatch] of legend) {
    const li = document.createElement("li");
    const box = document.createElement("span");
    box.className = "swatch";
    box.style.backgroundColor = swatch; // CSSOM, which the style-src policy allows
    li.appendChild(box);
    li.appendChild(document.createTextNode(label));
    list.appendChild(li);
  }
  if (hits.length) {
    const li = document.createElement("li");
    li.textContent = `○ ${hits.length} search hit${hits.length === 1 ? "" : "s"}${query ? ", × the query" : ""}`;
    list.appendChild(li);
  }
}

function clickMap(event) {
  if (!state.map) return;
  const canvas = $("map");
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  let best = null;
  let bestDistance = 64; // within 8 pixels
  for (const p of state.map.screen) {
    const d = (p.x - x) ** 2 + (p.y - y) ** 2;
    if (d < bestDistance) [best, bestDistance] = [p, d];
  }
  if (best) {
    const item = state.map.items.find((i) => i.id === best.id);
    if (item) showItem(item);
  }
}

// -- wiring -------------------------------------------------------------------------------

function run(action) {
  return () => action().catch(fail);
}

function start() {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    $("key").value = "";
    if (!key) return say("paste an API key first", true);
    signIn(key).catch((err) => {
      sessionStorage.removeItem(KEY);
      fail(err);
    });
  });
  $("sign-out").addEventListener("click", signOut);
  $("tenant-go").addEventListener("click", run(() => showTenant($("tenant-choice").value)));
  $("apply-filter").addEventListener("click", run(applyFilter));
  $("next-page").addEventListener("click", run(() => loadPage(state.next)));
  $("previous-page").addEventListener("click", run(() => {
    state.cursors.pop(); // this page's cursor; the one before it reads the previous page
    return loadPage(state.cursors.pop() ?? null);
  }));
  $("first-page").addEventListener("click", run(() => {
    state.cursors = [];
    return loadPage(null);
  }));
  $("page-size").addEventListener("change", run(() => {
    state.cursors = [];
    return loadPage(null);
  }));
  $("search").addEventListener("click", run(search));
  $("use-vector").addEventListener("click", run(() => {
    $("query").value = JSON.stringify(state.detailVector);
    return search();
  }));
  $("draw-map").addEventListener("click", run(drawMap));
  $("projection").addEventListener("change", run(reproject));
  $("colour-by").addEventListener("change", () => state.map && redraw());
  $("map").addEventListener("click", clickMap);
  const saved = sessionStorage.getItem(KEY);
  if (saved) {
    signIn(saved).catch((err) => {
      sessionStorage.removeItem(KEY);
      $("sign-in").hidden = false;
      fail(err);
    });
  }
}

start();
