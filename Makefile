# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Each creates the virtualenv and installs the package on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# One virtualenv, installed in layers, each with its own stamp (remade when pyproject.toml
# changes): `make demo` installs the package alone (numpy and apsw), `make
# demo-postgres` adds the `demo` extra (psycopg and an embedded PostgreSQL + pgvector), and
# `make test` the `dev` extra (the toolchain, which includes both). The dev layer marks the
# demo layers done too, so `make test` then `make demo` installs nothing more, and `make
# demo` then `make test` adds the toolchain to the same venv.
VENV_STAMP := $(VENV)/.venv-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
DEMO_PG_STAMP := $(VENV)/.demo-postgres-stamp
STAMP := $(VENV)/.installed-stamp
CONSOLE_STAMP := $(VENV)/.console-stamp
RAG_STAMP := $(VENV)/.rag-stamp
# examples/rag.py needs torch (through sentence-transformers). Its CPU build is installed
# first, pinned: left to the resolver, pip picks the default build, several GB of CUDA.
TORCH_CPU := torch==2.13.0

.PHONY: demo demo-postgres console rag test lint typecheck pytest browser pgbouncer soak bench bench-text bench-quality load clean

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $(VENV_STAMP)

$(DEMO_STAMP): pyproject.toml | $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

$(DEMO_PG_STAMP): pyproject.toml | $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP) $(DEMO_PG_STAMP)

$(STAMP): pyproject.toml | $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet '$(TORCH_CPU)'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEMO_STAMP) $(DEMO_PG_STAMP) $(CONSOLE_STAMP) $(RAG_STAMP) $(STAMP)

$(RAG_STAMP): pyproject.toml | $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet '$(TORCH_CPU)'
	$(BIN)/python -m pip install --quiet -e '.[rag]'
	touch $(DEMO_STAMP) $(RAG_STAMP)

$(CONSOLE_STAMP): pyproject.toml | $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[server]'
	touch $(DEMO_STAMP) $(CONSOLE_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python examples/demo.py

# The same demo on PostgreSQL + pgvector, started for it in a temporary directory.
demo-postgres: $(DEMO_PG_STAMP)
	$(BIN)/python examples/demo_postgres.py

# The web console (docs/console.md) on the demo data: prints its address and a new key, and
# serves until Ctrl-C. CONSOLE_ARGS="--port 0" for any free port.
console: $(CONSOLE_STAMP)
	$(BIN)/python examples/console.py $(CONSOLE_ARGS)

# Offline retrieval over this repository's own docs (examples/rag.py): the LangChain adapter,
# all-MiniLM-L6-v2 from a package that ships its weights, answers printed with their sources.
# RAG_ARGS='"How do I filter by metadata?"' asks your own question.
rag: $(RAG_STAMP)
	$(BIN)/python examples/rag.py $(RAG_ARGS)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The tests in two runs. First all but tests/reliability, on PYTEST_WORKERS processes
# (pytest-xdist; a module's tests stay in one process, which starts its own PostgreSQL and
# services): on 2 cores this halves the wall time, since most tests wait on a server, a
# subprocess or fsync. Then tests/reliability in one process, alone on the machine: its
# figures (latency under a flood, the noisy neighbour) mean something only without other
# tests running beside them, and it prints them at the end.
PYTEST_WORKERS ?= 2

pytest: $(STAMP) browser pgbouncer
	$(BIN)/pytest -q --durations=20 -n $(PYTEST_WORKERS) --dist loadfile --ignore=tests/reliability
	$(BIN)/pytest -q --durations=10 tests/reliability

# The console's browser tests (tests/console_browser/) drive Debian's chromium and
# chromedriver: installed here when missing, where this user may (root with apt-get).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q chromium chromium-driver || \
	      (apt-get update -q && apt-get install -y -q chromium chromium-driver); \
	  else \
	    echo "the console's browser tests need: apt-get install chromium chromium-driver" >&2; \
	  fi; \
	fi

# The conformance suite also runs through a real PgBouncer in transaction mode
# (tests/pgbouncer.py): Debian's package, installed here when missing (as root with apt-get,
# else with sudo).
pgbouncer:
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get install -y -q pgbouncer || { $$sudo apt-get update -q && $$sudo apt-get install -y -q pgbouncer; }; }

# The long versions of tests/reliability (docs/reliability.md): 50 SIGKILLs per backend,
# a minute of load per deployment, thousands of fuzz cases. `make test` runs the short ones.
# The figures land in .pytest_cache/reliability-figures.json (also printed at the end).
# Then the filter property tests with four times the examples `make test` gives them.
soak: $(STAMP)
	NIGH_SOAK=1 NIGH_RELIABILITY_FIGURES=.pytest_cache/reliability-figures.json $(BIN)/pytest -q tests/reliability
	NIGH_PROPERTY_EXAMPLES=200 NIGH_OPS_PROPERTY_EXAMPLES=60 $(BIN)/pytest -q tests/test_filter_property.py tests/test_ops_property.py

# The benchmark suite (bench/, docs/benchmarks.md): nighdb's backends next to numpy,
# sqlite-vec and pgvector on the same data. Not part of `make test`. About 15 minutes;
# BENCH_ARGS="--quick" for a smoke run, "--datasets wordnet,100k,1m" to add 1M vectors.
# Then operations by filter on PostgreSQL (bench/pg_filtered.py, about 5 minutes at 100k;
# PG_FILTERED_ARGS="--rows 10000 --seconds 0.5" for a smoke run). Then PostgreSQL at scale
# against raw SQL (bench/pgscale.py: ingest vs binary COPY, exact search vs the natural raw
# query, search_many through HNSW; about 10 minutes at 100k; PGSCALE_ARGS="--rows 20000").
# Last, approximate indexes (bench/ann.py: nighdb's SQLite HNSW next to numpy, sqlite-vec,
# pgvector HNSW and FAISS HNSW at 100k and on WordNet; ANN_ARGS="--rows 20000" for a quicker run),
# and their build cost paired by CPU time with pgvector's (bench/ann_build.py, 20k rows, ~3 minutes).
BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.pg_filtered $(PG_FILTERED_ARGS)
	$(BIN)/python -m bench.pgscale $(PGSCALE_ARGS)
	$(BIN)/python -m bench.ann $(ANN_ARGS)
	$(BIN)/python -m bench.ann_build $(ANN_BUILD_ARGS)

# Text and hybrid search (bench/text.py, docs/benchmarks.md): ingest with and without text,
# text search next to FTS5 and tsvector/ts_rank, hybrid next to vector-only, at 100k items.
# TEXT_ARGS="--rows 10000 --queries 10" for a smoke run.
bench-text: $(BENCH_STAMP)
	$(BIN)/python -m bench.text $(TEXT_ARGS)

# Retrieval quality of text and hybrid search (bench/textqual.py, docs/benchmarks.md):
# recall@10 and MRR@10 on the WordNet set in bench/data/textqual, SQLite and PostgreSQL.
QUALITY_ARGS ?= --backends sqlite,postgres
bench-quality: $(BENCH_STAMP)
	$(BIN)/python -m bench.textqual $(QUALITY_ARGS)

# The service under load (bench/load.py, docs/reliability.md): throughput and p50/p99 of
# search and upsert at 1, 10 and 100 clients on a SQLite node and a PostgreSQL node. About
# 3 minutes; LOAD_ARGS="--seconds 2" for a quick run.
load: $(STAMP)
	$(BIN)/python -m bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
