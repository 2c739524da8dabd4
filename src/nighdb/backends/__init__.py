"""Backends: each module implements the ``Store`` Protocol over one kind of storage.

Only ``sqlite`` is imported by the core; the others are imported by ``open_store`` when
their URL scheme is used, so their drivers stay optional extras.
"""
