"""The console (contract §19) in a real headless Chromium against a real ``nigh serve`` on
loopback: sign in, collections, browse with a filter and pages, an item, search, the map drawn
with PCA and with UMAP (a screenshot of the canvas, its pixels counted), the PCA checked
against numpy, UMAP's placement of new vectors checked, a wrong key refused, a tenant key kept
to its tenant, the policy header sent and the browser console free of errors. One server and
one browser for each module (``conftest``); ``pages`` drives the page, ``map_pixels`` reads the
map's screenshots.
"""
