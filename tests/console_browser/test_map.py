"""The console's map as drawn: searches on the PCA map and on the UMAP map, the clusters
apart in their colours, the hits ringed and the query crossed on their cluster (a screenshot
of the canvas, its pixels counted)."""

from __future__ import annotations

import json

import httpx
import numpy as np
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.select import Select

from nighdb.service.console import CONTENT_SECURITY_POLICY

from ..browser import Browser
from .conftest import Site
from .map_pixels import (
    _dark_pixels,
    _nearest,
    _palette_pixels,
    _three_clusters_apart,
    _where_dark,
    _where_query,
)
from .pages import _open_points, _rows, _status


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
