"""The congruence suite's stores: one seeded store per backend variant, and the reference's
answers, kept while those stores are open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nighdb

from ..conftest import _open
from .data import REFERENCE, VARIANTS, seed
from .outcomes import Outcome

# The reference's outcomes, computed once per case (``test_reads``) and once for the script
# (``test_writes``), for the stores of the module being run.
_reference_outcomes: dict[str, Outcome] = {}
_reference_script: list[Outcome] = []


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, nighdb.Store]]:
    """One seeded store per backend variant, each on its own database."""
    opened: dict[str, nighdb.Store] = {}
    _reference_outcomes.clear()  # the reference's answers belong to these stores
    _reference_script.clear()
    try:
        for backend in (REFERENCE, *VARIANTS):
            opened[backend] = _open(backend, tmp_path_factory.mktemp(f"congruence-{backend}"))
            seed(opened[backend])
        yield opened
    finally:
        for store in opened.values():
            store.close()
