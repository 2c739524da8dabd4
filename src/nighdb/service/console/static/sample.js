// The map's sample: a uniform random draw from the items that pass the filter, read through
// the public API (ids by POST …/ids, then the chosen items by POST …/fetch).
//
// Reading every id costs about 40 bytes per item, so above RANDOM_UP_TO matching items the
// sample is instead the first items in byte order of id (one scroll), and says so.

export const RANDOM_UP_TO = 200_000;
const IDS_PAGE = 10_000; // the service's largest ids page by default
const SCROLL_PAGE = 1_000; // its largest scroll page by default
const FETCH_BATCH = 250; // well under its default cap of ids per fetch

async function firstItems(api, name, filter, wanted) {
  const items = [];
  let after = null;
  while (items.length < wanted) {
    const page = await api.scroll(name, filter, after, Math.min(SCROLL_PAGE, wanted - items.length));
    items.push(...page.items);
    if (page.next === null) break;
    after = page.next;
  }
  return items;
}

// Returns {items, random}: random is false when the sample is every matching item or the
// first ones by id.
export async function sampleItems(api, name, filter, wanted, randomUpTo = RANDOM_UP_TO) {
  const { count } = await api.count(name, filter);
  if (count <= wanted || count > randomUpTo) {
    return { items: await firstItems(api, name, filter, wanted), random: false };
  }
  const ids = [];
  let after = null;
  do {
    const page = await api.ids(name, filter, after, IDS_PAGE);
    ids.push(...page.ids);
    after = page.next;
  } while (after !== null);
  // The first `wanted` places of a Fisher-Yates shuffle: each id equally likely.
  for (let i = 0; i < wanted && i < ids.length; i++) {
    const j = i + Math.floor(Math.random() * (ids.length - i));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const chosen = ids.slice(0, wanted);
  const items = [];
  for (let at = 0; at < chosen.length; at += FETCH_BATCH) {
    const answer = await api.fetchItems(name, chosen.slice(at, at + FETCH_BATCH));
    items.push(...answer.items); // an item deleted meanwhile is simply absent
  }
  return { items, random: true };
}
