"""Signing in to the console: the policy header sent, a wrong key refused, a key revoked
meanwhile signed out, a tenant key kept to its tenant, an admin key choosing a tenant."""

from __future__ import annotations

import httpx

import nighdb
from nighdb.keys import KeyRegistry, key_id_of

from ..browser import Browser
from ..service_support import create_key
from .conftest import ODD, Site
from .pages import _collection_names, _item_ids, _sign_in, _status


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
