"""The console (contract §19) in a real headless Chromium against a real ``nigh serve`` on
loopback: sign in, collections, browse with a filter and pages, an item, search, the map drawn
with PCA and with UMAP (a screenshot of the canvas, its pixels counted), the PCA checked
against numpy, UMAP's placement of new vectors checked, a wrong key refused, a tenant key kept
to its tenant, the policy header sent and the browser console free of errors. One server and
one browser for the module (about 25 s in all).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.select import Select

import nighdb
from nighdb import Collection
from nighdb.keys import KeyRegistry, key_id_of
from nighdb.service.console import CONTENT_SECURITY_POLICY

from .browser import Browser
from .harness import ServeNode
from .service_support import create_key

DIMS = 16
COLOURS = ("red", "green", "blue")
PER_COLOUR = 100
# plot.js's first three colours. Points are drawn at 80% opacity on white, and overlap.
PALETTE = ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C))
ODD = "../odd name/ü?#%2F"


@dataclass(frozen=True)
class Site:
    url: str
    store: str
    acme: str
    admin: str
    vectors: dict[str, list[float]]


def _points() -> tuple[list[dict[str, object]], dict[str, list[float]]]:
    """Three clusters, one per colour, far apart along their own axes."""
    rng = np.random.default_rng(19)
    items: list[dict[str, object]] = []
    for c, colour in enumerate(COLOURS):
        centre = np.zeros(DIMS)
        centre[c] = 10.0
        for i in range(PER_COLOUR):
            n = c * PER_COLOUR + i
            vector = centre + rng.normal(0, 0.5, DIMS)
            items.append(
                {
                    "id": f"p{n:03d}",
                    "vector": vector.tolist(),
                    "metadata": {"colour": colour, "n": n},
                    "text": f"point {n} of the {colour} cluster",
                }
            )
    return items, {str(i["id"]): list(i["vector"]) for i in items}  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'store.db'}"
    items, vectors = _points()
    with nighdb.open_store(url) as store:
        store.ensure_collection("acme", Collection("points", dimensions=DIMS, metric="l2"))
        store.upsert("acme", "points", items)
        store.ensure_collection("globex", Collection("secret-plans", dimensions=2))
        store.upsert("globex", "secret-plans", [{"id": "plan-x", "vector": [1.0, 0.0]}])
        # A name that is not a path: the page must send it as one segment.
        store.ensure_collection("globex", Collection(ODD, dimensions=2))
        store.upsert("globex", ODD, [{"id": "a/b?c#d", "vector": [0.0, 1.0]}])
        acme, admin = create_key(store, tenant="acme"), create_key(store)
    with ServeNode.nigh_serve(url) as node:
        yield Site(node.url, url, acme, admin, vectors)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


def _status(b: Browser) -> str:
    return str(b.find("#status").text)


def _open(b: Browser, site: Site) -> None:
    """The console, signed out."""
    # Cleared from another page of the origin: on /console itself a sign-in still under way
    # with the stored key could store it again.
    b.get(f"{site.url}/healthz")
    b.run("sessionStorage.clear()")
    b.get(f"{site.url}/console")
    b.wait(lambda: b.find("#sign-in").is_displayed())
    b.console_errors()  # start each test with an empty log


def _sign_in(b: Browser, site: Site, key: str) -> None:
    _open(b, site)
    b.find("#key").send_keys(key)
    b.find("#sign-in-button").click()


def _rows(b: Browser, css: str, field: str) -> list[str]:
    """One data attribute of every row, read in one script (rows are replaced as they load)."""
    rows = b.run(f"return Array.from(document.querySelectorAll({css!r}), r => r.dataset.{field})")
    return [str(r) for r in rows]


def _collection_names(b: Browser) -> list[str]:
    return _rows(b, "#collections tbody tr", "name")


def _open_points(b: Browser, site: Site) -> None:
    _sign_in(b, site, site.acme)
    b.wait(lambda: _collection_names(b) == ["points"])
    b.find('#collections tr[data-name="points"] button').click()
    b.wait(lambda: len(_item_ids(b)) == 50)


def _item_ids(b: Browser) -> list[str]:
    return _rows(b, "#items tbody tr", "id")


def test_the_policy_header_reaches_the_browser(site: Site) -> None:
    page = httpx.get(f"{site.url}/console")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]


def test_a_wrong_key_is_refused(browser: Browser, site: Site) -> None:
    b = browser
    _sign_in(b, site, "nigh_not_a_key")
    b.wait(lambda: "unauthenticated" in _status(b))
    assert b.find("#sign-in").is_displayed()
    assert not b.find("#workspace").is_displayed()
    assert b.run("return sessionStorage.length") == 0  # a refused key is not kept
    errors = b.console_errors()
    assert errors and all("401" in e for e in errors), errors  # only the refused request


def test_a_key_revoked_meanwhile_signs_out(browser: Browser, site: Site) -> None:
    b = browser
    with nighdb.open_store(site.store) as store:
        key = create_key(store, tenant="acme")
    _sign_in(b, site, key)
    b.wait(lambda: _collection_names(b) == ["points"])
    with nighdb.open_store(site.store) as store:
        assert isinstance(store, KeyRegistry)
        key_id = key_id_of(key)
        assert key_id is not None and store.revoke_key(key_id)
    b.find('#collections tr[data-name="points"] button').click()
    b.wait(lambda: b.find("#sign-in").is_displayed())
    assert "unauthenticated" in _status(b)
    assert not b.find("#workspace").is_displayed()
    assert b.run("return sessionStorage.length") == 0
    assert all("401" in e for e in b.console_errors())


def test_a_tenant_key_sees_its_own_tenant_only(browser: Browser, site: Site) -> None:
    b = browser
    _sign_in(b, site, site.acme)
    b.wait(lambda: _collection_names(b) == ["points"])
    assert b.find("#tenant-name").text == "acme"
    assert not b.find("#admin-picker").is_displayed()
    row = [c.text for c in b.find_all('#collections tr[data-name="points"] td')]
    assert row == ["points", "300", "16", "l2", "—", "none (exact)"]
    assert "secret-plans" not in b.driver.page_source
    assert b.console_errors() == []
    # The key is in session storage only: never in the address.
    assert b.run("return sessionStorage.getItem('nigh.console.key')") == site.acme
    assert site.acme not in b.driver.current_url
    # The page's own credentials cannot reach another tenant: the service refuses them.
    statuses = b.run_async(
        """const done = arguments[arguments.length - 1];
        const key = sessionStorage.getItem('nigh.console.key');
        const get = (path) => fetch(path, {headers: {Authorization: 'Bearer ' + key}})
          .then(async (r) => [r.status, await r.text()]);
        Promise.all([get('v1/tenants/globex/collections'), get('v1/tenants')]).then(done);"""
    )
    assert [s for s, _ in statuses] == [403, 403]
    assert all("secret-plans" not in body and "globex" not in body for _, body in statuses)
    b.console_errors()
    b.find("#sign-out").click()  # forgets the key
    b.wait(lambda: b.find("#sign-in").is_displayed())
    assert b.run("return sessionStorage.length") == 0
    assert not b.find("#workspace").is_displayed()


def test_an_admin_key_picks_a_tenant(browser: Browser, site: Site) -> None:
    b = browser
    _sign_in(b, site, site.admin)
    b.wait(lambda: b.find("#admin-picker").is_displayed())
    b.wait(lambda: _collection_names(b) == ["points"])  # the first tenant: acme
    options = b.find_all("#tenant-list option")
    assert [o.get_attribute("value") for o in options] == ["acme", "globex"]
    choice = b.find("#tenant-choice")
    choice.clear()
    choice.send_keys("globex")
    b.find("#tenant-go").click()
    b.wait(lambda: _collection_names(b) == [ODD, "secret-plans"])
    assert b.find("#tenant-name").text == "globex"
    b.find("#collections tbody tr:first-child button").click()
    b.wait(lambda: _item_ids(b) == ["a/b?c#d"])
    assert b.find("#count").text == "1 item match"
    assert b.find("#collection-name").text == ODD
    assert b.console_errors() == []


def test_browse_pages_and_filters(browser: Browser, site: Site) -> None:
    b = browser
    _open_points(b, site)
    assert b.find("#count").text == "300 items match"
    # the filter box's example uses this collection's fields (the first item's)
    assert json.loads(b.find("#filter-example").text) == {"colour": "red", "n": {"gte": 0}}
    first = _item_ids(b)
    assert first == sorted(site.vectors)[:50]
    b.find("#next-page").click()
    b.wait(lambda: _item_ids(b) != first)
    assert _item_ids(b) == sorted(site.vectors)[50:100]
    b.find("#next-page").click()
    b.wait(lambda: _item_ids(b) == sorted(site.vectors)[100:150])
    b.find("#previous-page").click()
    b.wait(lambda: _item_ids(b) == sorted(site.vectors)[50:100])
    b.find("#first-page").click()
    b.wait(lambda: _item_ids(b) == first)
    assert b.find("#previous-page").get_attribute("disabled") is not None

    box = b.find("#filter")
    box.clear()
    box.send_keys('{"colour": "green", "n": {"lt": 150}}')
    b.find("#apply-filter").click()
    b.wait(lambda: b.find("#count").text == "50 items match")
    b.wait(lambda: _item_ids(b) == [f"p{n:03d}" for n in range(100, 150)])
    assert b.find("#next-page").get_attribute("disabled") is not None  # the only page

    b.find('#items tr[data-id="p123"]').click()
    b.wait(lambda: b.find("#detail").is_displayed())
    assert json.loads(b.find("#detail-metadata").text) == {"colour": "green", "n": 123}
    assert b.find("#detail-text").text == "point 123 of the green cluster"
    assert b.find("#detail-vector").text.startswith(f"{DIMS} dimensions: [")
    b.find("#use-vector").click()  # the item's whole vector becomes the query
    b.wait(lambda: _rows(b, "#matches tbody tr", "id")[:1] == ["p123"])
    query = json.loads(b.find("#query").get_attribute("value") or "")
    stored = np.array(site.vectors["p123"], dtype=np.float32)  # the store keeps float32
    assert np.array_equal(np.array(query, dtype=np.float32), stored)
    assert b.console_errors() == []

    box.clear()
    box.send_keys('{"colour": null}')  # contract §6: a null operand is refused
    b.find("#apply-filter").click()
    b.wait(lambda: "invalid_argument" in _status(b))
    assert b.find("#count").text == "50 items match"  # the last good filter's answer stays
    assert all("400" in e for e in b.console_errors())
    box.clear()
    box.send_keys("{colour")
    b.find("#apply-filter").click()
    b.wait(lambda: "not valid JSON" in _status(b))


def test_a_newcomer_is_told_what_to_do(browser: Browser, site: Site) -> None:
    """The empty map says how to draw it, and the status line (an error, say) stays in view
    when the page is scrolled far below it."""
    b = browser
    _open_points(b, site)
    assert "Draw map" in b.find("#map-note").text
    b.run("window.scrollTo(0, document.body.scrollHeight)")
    assert b.run("return window.scrollY") > 200  # the status line's place is far above
    b.run("document.getElementById('search').click()")  # a click that does not scroll
    b.wait(lambda: "paste a query vector" in _status(b))
    top, bottom = b.run(
        "const r = document.getElementById('status').getBoundingClientRect();"
        "return [r.top, r.bottom]"
    )
    assert top >= 0 and bottom <= b.run("return window.innerHeight")


def _palette_pixels(image: Image.Image) -> tuple[int, list[np.ndarray]]:
    """Drawn (non-white) pixels, and the positions of the pixels of each palette colour.

    A colour c drawn over white at any opacity, once or in overlapping layers, gives
    255 - a(255 - c) for some a in (0, 1]: the pixel's distance from white points the same
    way as the colour's, whatever the layers. Pixels are classified by that direction.
    """
    pixels = np.asarray(image, dtype=np.float64)
    ink = 255 - pixels
    strength = np.linalg.norm(ink, axis=2)
    drawn = strength > 8
    where = []
    for rgb in PALETTE:
        direction = (255 - np.array(rgb, dtype=np.float64)) / np.linalg.norm(255 - np.array(rgb))
        cosine = (ink @ direction) / np.maximum(strength, 1e-9)
        where.append(np.argwhere(drawn & (cosine > 0.998)))
    return int(drawn.sum()), where


def _dark_pixels(image: Image.Image) -> int:
    return int((np.asarray(image).max(axis=2) < 40).sum())  # the black rings of search hits


def _where_dark(image: Image.Image) -> np.ndarray:
    return np.argwhere(np.asarray(image).max(axis=2) < 40)


def _where_query(image: Image.Image) -> np.ndarray:
    """The red cross of the query (#e00000; no palette colour is near it)."""
    pixels = np.asarray(image, dtype=np.int32)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return np.argwhere((red > 170) & (green < 70) & (blue < 70))


def _three_clusters_apart(image: Image.Image) -> list[np.ndarray]:
    """The map shows the test data's three clusters, each in its colour, apart; their centres
    (row, column) on the screenshot."""
    drawn, where = _palette_pixels(image)
    assert drawn > 3_000  # 300 points of radius 3
    assert all(len(w) > 500 for w in where), [len(w) for w in where]
    centres = [w.mean(axis=0) for w in where]
    for i in range(3):
        for j in range(i):
            assert np.linalg.norm(centres[i] - centres[j]) > 60, centres
    return centres


def test_search_and_the_map(browser: Browser, site: Site) -> None:
    b = browser
    _open_points(b, site)
    takes_text = (
        "text"
        in httpx.get(f"{site.url}/openapi.json").json()["components"]["schemas"]["SearchRequest"][
            "properties"
        ]
    )
    assert b.find("#text-row").is_displayed() == takes_text

    b.find("#sample").send_keys("500")
    b.find("#draw-map").click()
    b.wait(lambda: "map of 300 items" in _status(b))
    colour_by = b.find("#colour-by")
    assert {o.get_attribute("value") for o in b.find_all("#colour-by option")} == {
        "",
        "colour",
        "n",
    }
    colour_by.send_keys("colour")
    b.wait(lambda: len(b.find_all("#legend li")) == 3)
    canvas = b.find("#map")
    # the clusters are apart on the map: the projection separated them
    centres = _three_clusters_apart(b.screenshot(canvas))
    where = _palette_pixels(b.screenshot(canvas))[1]
    assert "first two principal components" in b.find("#map-note").text
    assert _dark_pixels(b.screenshot(canvas)) == 0  # no search yet: no hit ringed

    # A click on a point of the first colour of the legend shows one of its items.
    first_value = b.find("#legend li:first-child").text.split(" ")[0].strip('"')
    blue = where[0]
    row, col = blue[np.argmin(np.linalg.norm(blue - centres[0], axis=1))]
    size = canvas.size
    ActionChains(b.driver).move_to_element_with_offset(
        canvas, int(col - size["width"] / 2), int(row - size["height"] / 2)
    ).click().perform()
    b.wait(lambda: b.find("#detail").is_displayed())
    assert json.loads(b.find("#detail-metadata").text)["colour"] == first_value

    query = site.vectors["p007"]
    b.find("#query").send_keys(json.dumps(query))
    b.find("#limit").clear()
    b.find("#limit").send_keys("5")
    b.find("#search").click()
    b.wait(lambda: len(_rows(b, "#matches tbody tr", "id")) == 5)
    top = [c.text for c in b.find_all("#matches tbody tr:first-child td")]
    assert top[:4] == ["1", "p007", "0.0000", "0.0000"]  # its own vector: distance 0
    b.wait(lambda: "5 search hits" in b.find("#legend").text)
    assert _dark_pixels(b.screenshot(canvas)) > 50  # the hits are ringed on the map

    # under the browser's filter, search only sees the blue cluster
    box = b.find("#filter")
    box.clear()
    box.send_keys('{"colour": "blue"}')
    b.find("#apply-filter").click()
    b.wait(lambda: b.find("#count").text == "100 items match")
    b.find("#search").click()
    b.wait(lambda: _rows(b, "#matches tbody tr", "id")[:1] != ["p007"])
    hits = _rows(b, "#matches tbody tr", "id")
    assert len(hits) == 5 and all(200 <= int(h[1:]) < 300 for h in hits)
    assert b.console_errors() == []
    if takes_text:  # contract §14 on this service: text alone, under the same filter
        box.clear()
        box.send_keys("{}")
        b.find("#apply-filter").click()
        b.wait(lambda: b.find("#count").text == "300 items match")
        b.find("#query").clear()
        b.find("#query-text").send_keys("green")
        b.find("#search").click()
        b.wait(lambda: _rows(b, "#matches tbody tr", "id")[:1] != hits[:1])
        texts = _rows(b, "#matches tbody tr", "id")
        assert len(texts) == 5 and all(100 <= int(h[1:]) < 200 for h in texts), texts
        assert b.console_errors() == []


def _spread(rng: np.random.Generator, n: int, d: int, singular: list[float]) -> np.ndarray:
    """An n-by-d matrix whose centred form has exactly these leading singular values."""
    k = len(singular)
    u = np.linalg.qr(rng.normal(size=(n, k)) - rng.normal(size=(n, k)).mean(axis=0))[0]
    u = np.linalg.qr(u - u.mean(axis=0))[0]  # columns orthogonal to the ones vector
    v = np.linalg.qr(rng.normal(size=(d, k)))[0]
    return np.asarray(u @ np.diag(singular) @ v.T + rng.normal(size=d))


@pytest.mark.parametrize(("n", "d"), [(200, 12), (8, 30)])  # covariance, then Gram matrix
def test_the_projection_is_pca(browser: Browser, site: Site, n: int, d: int) -> None:
    """pca.js's two axes are numpy's first two principal axes (up to sign), whether it forms
    the covariance (more vectors than dimensions) or the Gram matrix (fewer)."""
    b = browser
    _open(b, site)
    rng = np.random.default_rng(n)
    data = _spread(rng, n, d, [9.0, 7.0, 5.0, 3.0, 2.0, 1.0])
    axes = b.run_async(
        """const done = arguments[arguments.length - 1];
        import(new URL('console/static/pca.js', document.baseURI).href)
          .then((m) => { const p = m.pca2(arguments[0]);
                         done([Array.from(p.axes[0]), Array.from(p.axes[1]),
                               p.project(arguments[0][0])]); });""",
        data.tolist(),
    )
    centred = data - data.mean(axis=0)
    expected = np.linalg.svd(centred, full_matrices=False)[2][:2]
    for axis, want in zip(axes[:2], expected, strict=True):
        got = np.array(axis)
        assert min(np.abs(got - want).max(), np.abs(got + want).max()) < 1e-6
    assert np.allclose(axes[2], np.array(axes[:2]) @ centred[0], atol=1e-9)
    assert b.console_errors() == []


def test_the_map_sample_is_random_where_it_can_be(browser: Browser, site: Site) -> None:
    """sample.js: a uniform draw from the items that pass the filter (ids, then fetch), every
    item when the sample would hold them all, the first ids past its ``randomUpTo``."""
    b = browser
    _open(b, site)
    runs = b.run_async(
        """const done = arguments[arguments.length - 1];
        const base = document.baseURI;
        Promise.all([import(new URL('console/static/api.js', base).href),
                     import(new URL('console/static/sample.js', base).href)])
          .then(async ([api, sample]) => {
            const a = new api.Api(arguments[0]);
            const green = {colour: 'green'};
            const draw = async (wanted, upTo) => {
              const s = await sample.sampleItems(a, 'points', green, wanted, upTo);
              return [s.random, s.items.map((i) => [i.id, i.metadata.colour, i.vector.length])];
            };
            done([await draw(40), await draw(40), await draw(500), await draw(40, 50)]);
          });""",
        site.acme,
    )
    greens = sorted(i for i in site.vectors if 100 <= int(i[1:]) < 200)
    for _, items in runs:
        assert all(colour == "green" and dims == DIMS for _, colour, dims in items)
    (r1, first), (r2, second), (r3, every), (r4, head) = runs
    assert r1 and r2 and not r3 and not r4
    ids1, ids2 = [i for i, _, _ in first], [i for i, _, _ in second]
    assert len(set(ids1)) == 40 and set(ids1) <= set(greens)
    assert sorted(ids1) != greens[:40]  # random, not the first ids (by chance: 1 in 1e28)
    assert ids1 != ids2  # two draws differ
    assert sorted(i for i, _, _ in every) == greens  # fewer items than the sample: all of them
    assert [i for i, _, _ in head] == greens[:40]  # past randomUpTo: the first by id
    assert b.console_errors() == []


def _nearest(point: np.ndarray, centres: list[np.ndarray]) -> int:
    return int(np.argmin([np.linalg.norm(point - c) for c in centres]))


def test_the_umap_map(browser: Browser, site: Site) -> None:
    """UMAP (the vendored umap-js, loaded only when chosen): served like the other files, the
    clusters drawn apart in their colours, the search's hits ringed and the query crossed on
    their cluster, and the same sample giving the same picture."""
    b = browser
    bundle = httpx.get(f"{site.url}/console/static/vendor/umap-js.min.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
    assert bundle.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    _open_points(b, site)
    loaded = "return performance.getEntriesByType('resource').map((e) => e.name)"
    assert not any("umap-worker" in name for name in b.run(loaded))  # not on a PCA page
    Select(b.find("#projection")).select_by_value("umap")
    b.find("#sample").send_keys("500")
    b.find("#draw-map").click()
    b.wait(lambda: "UMAP (15 neighbours" in b.find("#map-note").text, timeout=60)
    assert _status(b) == "map of 300 items"
    assert any(name.endswith("/umap-worker.js") for name in b.run(loaded))
    b.find("#colour-by").send_keys("colour")
    b.wait(lambda: len(b.find_all("#legend li")) == 3)
    canvas = b.find("#map")
    centres = _three_clusters_apart(b.screenshot(canvas))
    assert _dark_pixels(b.screenshot(canvas)) == 0

    b.find("#query").send_keys(json.dumps(site.vectors["p007"]))  # the "red" cluster: 3rd
    b.find("#limit").clear()
    b.find("#limit").send_keys("5")
    b.find("#search").click()
    b.wait(lambda: "5 search hits, \N{MULTIPLICATION SIGN} the query" in b.find("#legend").text)
    shot = b.screenshot(canvas)
    rings, cross = _where_dark(shot), _where_query(shot)
    assert len(rings) > 50 and len(cross) > 20, (len(rings), len(cross))
    # the hits (points of the sample) and the query (placed among its nearest items) lie on
    # their cluster
    assert _nearest(rings.mean(axis=0), centres) == 2, (rings.mean(axis=0), centres)
    assert _nearest(cross.mean(axis=0), centres) == 2, (cross.mean(axis=0), centres)

    # The same sample gives the same picture: back to PCA (the same sample, re-projected),
    # then UMAP again.
    # (Select: keys typed into a <select> within a second of others add to one search)
    Select(b.find("#projection")).select_by_value("pca")
    b.wait(lambda: "principal components" in b.find("#map-note").text)
    assert not np.array_equal(np.asarray(b.screenshot(canvas)), np.asarray(shot))
    Select(b.find("#projection")).select_by_value("umap")
    b.wait(lambda: "UMAP (15 neighbours" in b.find("#map-note").text, timeout=60)
    assert np.array_equal(np.asarray(b.screenshot(canvas)), np.asarray(shot))
    assert b.console_errors() == []


def test_umap_places_new_vectors_on_their_cluster(browser: Browser, site: Site) -> None:
    """umap.js: fitted on the sample less ten items of each cluster, its place() puts each of
    those on its own cluster of the map, the same way every time; a second fit of the same
    sample is identical; too small a sample is refused with a clear message."""
    b = browser
    _open(b, site)
    ids = sorted(site.vectors)
    held = {i for i in ids if int(i[1:]) % 10 == 0}
    fitted = [i for i in ids if i not in held]
    out = b.run_async(
        """const done = arguments[arguments.length - 1];
        const [fit, more] = [arguments[0], arguments[1]];
        import(new URL('console/static/umap.js', document.baseURI).href).then(async (m) => {
          const one = await m.umap2(fit, 'l2');
          const two = await m.umap2(fit, 'l2');
          const small = await m.umap2(fit.slice(0, 15), 'l2').then(() => null, (e) => e.message);
          done([one.positions, two.positions, one.place(more), one.place(more), small]);
        });""",
        [site.vectors[i] for i in fitted],
        [site.vectors[i] for i in sorted(held)],
    )
    positions, again, placed, placed_again, small = out
    assert positions == again  # seeded: the same sample, the same map
    assert placed == placed_again
    cluster = {i: int(i[1:]) // PER_COLOUR for i in ids}
    embedded = np.array(positions)
    centres = [embedded[[cluster[i] == c for i in fitted]].mean(axis=0) for c in range(3)]
    for i, where in zip(sorted(held), placed, strict=True):
        assert _nearest(np.array(where), centres) == cluster[i], (i, where, centres)
    assert small is not None and "UMAP needs more than 15 items" in small
    assert b.console_errors() == []
