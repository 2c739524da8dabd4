"""nighdb.ranking: float64 distances are a function of the two vectors alone."""

from __future__ import annotations

import numpy as np
import pytest

from nighdb.ranking import exact_distances


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_a_distance_does_not_depend_on_the_other_rows_scored_with_it(metric: str) -> None:
    # Backends score different candidate sets for the same item (a single search fetches a
    # margin, a batched one may not): the distance must come out bit for bit the same.
    # (With ``x @ q`` most rows here differed in the last bit between a 1-row and a 50-row
    # product.)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 384)).astype(np.float32)
    q = rng.normal(size=384).astype(np.float32)
    full = exact_distances(x, q, metric)
    for i in range(50):
        assert exact_distances(x[i : i + 1], q, metric)[0] == full[i]
        assert (exact_distances(x[i : i + 7], q, metric) == full[i : i + 7]).all()
