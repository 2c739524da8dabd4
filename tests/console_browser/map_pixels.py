"""The map read from a screenshot of its canvas: the pixels of each cluster's palette colour,
the black rings of search hits, the red cross of the query, and which cluster a place is on."""

from __future__ import annotations

import numpy as np
from PIL import Image

# plot.js's first three colours. Points are drawn at 80% opacity on white, and overlap.
PALETTE = ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C))


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


def _nearest(point: np.ndarray, centres: list[np.ndarray]) -> int:
    return int(np.argmin([np.linalg.norm(point - c) for c in centres]))
