"""Browsing a collection in the console: pages, a filter, an item's detail and its vector
as the query, refused filters; and the hints a newcomer sees, in view."""

from __future__ import annotations

import json

import numpy as np

from ..browser import Browser
from .conftest import DIMS, Site
from .pages import _item_ids, _open_points, _rows, _status


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
