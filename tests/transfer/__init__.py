"""``nigh import|export`` and ``nighdb.transfer``: exact round trips (JSONL and .npy with a
sidecar), streaming in bounded memory, collection creation, refusals naming the line, and the
pin that travels with the data. The ``source`` store and its items are ``conftest``'s.
"""
