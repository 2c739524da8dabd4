"""``make rag`` (examples/rag.py) runs offline and answers with sources from this repository's
docs, embedded by the bundled all-MiniLM-L6-v2 and stored through the LangChain adapter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nighdb

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_rag_example_answers_with_sources_offline(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rag.db'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    question = "Which operators can a metadata filter use?"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "rag.py"), "--store", url, question],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"Q: {question}" in lines
    answer = next(line for line in lines if line.startswith("A: "))
    assert "not_in" in answer  # the operator list, found in the docs
    sources = [line[4:] for line in lines if line.startswith("  - ")]
    assert len(sources) == 3
    for source in sources:
        path = source.split(" — ")[0]
        assert (ROOT / path).is_file(), source
    with nighdb.open_store(url, create=False) as store:
        pin = store.describe_collection("rag", "nighdb-docs")
        assert pin is not None
        assert (pin.dimensions, pin.embedding_model) == (
            384,
            "sentence-transformers/all-MiniLM-L6-v2",
        )
        assert store.count("rag", "nighdb-docs") > 50
