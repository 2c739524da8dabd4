"""The map's scripts run in the page and checked: pca.js against numpy's principal axes,
sample.js's uniform draw, umap.js's placement of new vectors on their own cluster."""

from __future__ import annotations

import numpy as np
import pytest

from ..browser import Browser
from .conftest import DIMS, PER_COLOUR, Site
from .map_pixels import _nearest
from .pages import _open


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
