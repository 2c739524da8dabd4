"""Driving the console page: open it signed out, sign in with a key, open the points
collection, and read its status line and the data attributes of its rows."""

from __future__ import annotations

from ..browser import Browser
from .conftest import Site


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
