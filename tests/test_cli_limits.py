"""One limit rule per operation, the same in Python, over HTTP and on the command line:
search ``limit <= 0`` means 10 (contract §5); an ids page ``limit < 1`` is
``invalid_argument`` (contract §12). ``nigh show --ids`` pages by itself and takes no limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import nighdb

from .cli_support import error_line, nigh, seed, sqlite_url
from .service_support import InProcessService

ITEMS = [{"id": f"i{n:02d}", "vector": [float(n), 1.0]} for n in range(15)]
FIRST_10 = [f"i{n:02d}" for n in range(10)]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path)
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", ITEMS, metric="l2")
    yield url


@pytest.mark.parametrize("limit", [0, -1, -100])
def test_search_limit_of_zero_or_less_means_10_everywhere(url: str, limit: int) -> None:
    with nighdb.open_store(url) as store:
        assert [m.id for m in store.search("acme", "docs", [0, 1], limit=limit)] == FIRST_10
    with InProcessService(url) as service:
        answer = service.client.post(
            "/v1/collections/docs/search",
            json={"vector": [0, 1], "limit": limit},
            headers={"Authorization": f"Bearer {service.create_key(tenant='acme')}"},
        )
    assert answer.status_code == 200, answer.text
    assert [m["id"] for m in answer.json()["matches"]] == FIRST_10
    cli = nigh(
        "search", "acme", "docs", "--vector", "[0, 1]", f"--limit={limit}", "--json", "--store", url
    )
    assert cli.returncode == 0, cli.stderr
    assert [m["id"] for m in json.loads(cli.stdout)["matches"]] == FIRST_10


@pytest.mark.parametrize("limit", [0, -1])
def test_an_ids_page_limit_below_1_is_invalid_everywhere(url: str, limit: int) -> None:
    with nighdb.open_store(url) as store, pytest.raises(nighdb.InvalidArgumentError):
        store.list_ids("acme", "docs", limit=limit)
    with InProcessService(url) as service:
        answer = service.client.get(
            "/v1/collections/docs/ids",
            params={"limit": limit},
            headers={"Authorization": f"Bearer {service.create_key(tenant='acme')}"},
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_argument"


def test_a_non_integer_search_limit_is_a_usage_error(url: str) -> None:
    cli = nigh("search", "acme", "docs", "--vector", "[0, 1]", "--limit", "ten", "--store", url)
    assert cli.returncode == 1
    assert error_line(cli.stderr).startswith("error: invalid_argument: nigh search: ")
