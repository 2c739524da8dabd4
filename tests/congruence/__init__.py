"""Congruence: the same seeded data and the same calls give the same answers on every backend.

Every variant of ``tests/conftest.py``'s ``BACKENDS`` (opened the way the conformance suite
opens them) gets the same collections and items: a few hundred items per metric with
metadata of every JSON type (integers beyond 2**53, float edge values, unicode strings,
booleans, nulls, arrays, nested objects), ids with unicode, quotes and slashes, and exact
duplicate vectors for ties. Then the same calls run everywhere and each outcome is compared
with the plain ``sqlite`` backend's (the reference, the idea of qdrant-client's congruence
tests):

- a result: ids and their order exactly, distances and scores within 1e-9 relative (float64
  rounding of the same sum taken in another order), metadata and text exactly (as canonical
  JSON, so 12 ≠ 12.0 and -0.0 ≠ 0.0; object key order is not part of the contract), fetched
  vectors bit for bit;
- an error: the same class, code, details and message (the message is built from the
  details by the error class on every backend, and the remote backend gets the service's).

``test_reads`` compares read-only calls (and calls that must fail without writing) on the
seeded collections; ``test_writes`` runs one script of writes, reads and failing calls step by
step in a tenant of its own. Independently of the comparison, the reference's filtered
selections are checked against the pure-Python reading of the contract
(``reference_filter``), so "every backend agrees" cannot mean "every backend is wrong the
same way". ``test_comparison`` shows the comparison fails on each kind of difference it is
meant to catch. The seeded data is in ``data``, the comparison in ``outcomes``, the stores
in ``conftest``.
"""
