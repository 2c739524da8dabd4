"""``open_store`` options: an unknown one is ``InvalidArgumentError`` naming it and the valid
ones, decided before the backend is built; a ``TypeError`` from inside a backend's
constructor is that backend's own error, never reported as a bad option."""

from __future__ import annotations

from pathlib import Path

import pytest

import nighdb
from nighdb.errors import InvalidArgumentError
from nighdb.store import _construct, backend_module


def test_an_unknown_sqlite_option_names_it_and_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with pytest.raises(InvalidArgumentError) as info:
        nighdb.open_store(f"sqlite:///{path}", cache_byte=1)
    assert str(info.value) == (
        "unknown store option 'cache_byte' for sqlite:// stores; "
        "the options are busy_timeout, cache_bytes, cache_precision, create, exact_below, "
        "synchronous"
    )
    assert not path.exists()  # refused before anything was opened


def test_a_bare_path_is_a_sqlite_store_for_options_too(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"'pool_size' for sqlite:// stores"):
        nighdb.open_store(str(tmp_path / "store.db"), pool_size=3)


def test_unknown_options_of_the_remote_and_postgres_backends() -> None:
    # Refused before any connection is tried (nothing listens on port 1).
    with pytest.raises(InvalidArgumentError) as info:
        nighdb.open_store("http://127.0.0.1:1", key="k", cache_bytes=1)
    assert str(info.value) == (
        "unknown store options 'cache_bytes', 'key' for http:// stores; "
        "the options are api_key, client, create, max_retry_wait, retry_rate_limited, timeout, "
        "transport"
    )
    with pytest.raises(InvalidArgumentError, match=r"'api_key' for postgresql:// stores; "):
        nighdb.open_store("postgresql://nobody@127.0.0.1:1/none", api_key="k")


def test_valid_options_still_reach_the_backend(tmp_path: Path) -> None:
    with nighdb.open_store(f"sqlite:///{tmp_path / 'store.db'}", cache_bytes=0) as store:
        assert store.list_tenants() == []


def _helper(*, size: int) -> int:
    return size


class _Backend:
    """A backend whose constructor has a bug: it calls a helper with a wrong keyword."""

    def __init__(self, url: str, *, size: int = 1) -> None:
        _helper(sizes=size)  # type: ignore[call-arg]


def test_a_type_error_inside_a_constructor_is_not_taken_for_a_bad_option() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'sizes'"):
        _construct(_Backend, "test", "test://", {"size": 2})
    with pytest.raises(InvalidArgumentError, match=r"the options are size$"):
        _construct(_Backend, "test", "test://", {"sizes": 2})


def test_backend_module_names_the_module_open_store_imports(tmp_path: Path) -> None:
    assert backend_module(f"sqlite:///{tmp_path / 's.db'}") == "nighdb.backends.sqlite"
    assert backend_module(str(tmp_path / "s.db")) == "nighdb.backends.sqlite"  # a bare path
    assert backend_module("POSTGRESQL://db/x") == "nighdb.backends.postgres"
    assert backend_module("http://127.0.0.1:1") == "nighdb.backends.remote"
    assert backend_module("ftp://x") is None
    with nighdb.open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        assert type(store).__module__.startswith("nighdb.backends.sqlite")
