"""nighdb's benchmark suite: nighdb's backends side by side with their raw baselines.

``python -m bench`` (or ``make bench``) prepares the data sets, starts a throwaway
PostgreSQL with pgvector, runs every system in its own child processes (so peak RSS is per
system and phase) on the same data, and reports ingest rate, search latency, ``search_many``
throughput, filtered search, recall@10 against exact ground truth, peak RSS and on-disk
size, with the targets of issue 6 as ratios. See ``docs/benchmarks.md``.
"""
