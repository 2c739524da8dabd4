"""Packs (contract §11, §12): ``nigh diff`` and ``nigh apply`` over ``nighdb.packs``.

The central promise: a pack is validated in full before its first write, so a bad pack
changes nothing and never creates its collection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import nighdb
from nighdb import Collection
from nighdb.packs import apply_pack, read_pack

from .cli_support import contents, error_line, nigh, run, seed, sqlite_url

DOCS: list[dict[str, Any]] = [
    {"id": "a", "vector": [1.0, 0.0, 0.0], "metadata": {"n": 1}, "text": "A", "model": "toy"},
    {"id": "b", "vector": [0.0, 1.0, 0.0], "metadata": {"tags": ["x"]}},
    {"id": "c", "vector": [0.0, 0.0, 1.0], "text": "C"},
]


def write(path: Path, lines: Sequence[dict[str, Any] | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    nighdb.open_store(url).close()  # an empty store: diff, a reading command, needs one
    return url


def apply(url: str, target: Path, *flags: str) -> Any:
    return run("apply", "acme", str(target), "--store", url, *flags)


def state(url: str) -> dict[str, Any]:
    """Every collection of tenant acme: pin and contents."""
    with nighdb.open_store(url) as store:
        return {
            c.name: (c, contents(store, "acme", c.name)) for c in store.list_collections("acme")
        }


def test_apply_creates_the_collection_from_the_pack(url: str, tmp_path: Path) -> None:
    result = apply(url, write(tmp_path / "docs.jsonl", DOCS), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "applied": [
            {
                "pack": str(tmp_path / "docs.jsonl"),
                "collection": "docs",
                "created": True,
                "added": 3,
                "changed": 0,
                "deleted": 0,
                "unchanged": 0,
                "upserted": 3,
                "skipped": False,
            }
        ]
    }
    pin, stored = state(url)["docs"]
    assert pin == Collection("docs", 3, "toy", "cosine")  # model: the first line naming one
    assert stored["a"][1:] == ({"n": 1}, "A") and stored["b"][1:] == ({"tags": ["x"]}, "")


def test_apply_syncs_to_the_desired_state(url: str, tmp_path: Path) -> None:
    pack = write(tmp_path / "docs.jsonl", DOCS)
    assert apply(url, pack).exit_code == 0
    with nighdb.open_store(url) as store:
        store.upsert("acme", "docs", [{"id": "stray", "vector": [1.0, 1.0, 1.0]}])
    new = [{**DOCS[0], "metadata": {"n": 2}}, DOCS[2], {"id": "d", "vector": [1.0, 1.0, 0.0]}]
    write(pack, new)
    diff = run("diff", "acme", "docs", str(pack), "--store", url)
    assert diff.exit_code == 0
    assert diff.stdout.splitlines() == [
        f"acme/docs <- {pack}: 1 added, 2 removed, 1 changed, 1 unchanged",
        "+ d",
        "- b",
        "- stray",
        "~ a",
    ]
    result = apply(url, pack)
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        f"{pack} -> acme/docs: 1 added, 1 changed, 2 deleted, 1 unchanged"
    )
    stored = state(url)["docs"][1]
    assert sorted(stored) == ["a", "c", "d"] and stored["a"][1] == {"n": 2}
    again = run("diff", "acme", "docs", str(pack), "--json", "--store", url)
    assert json.loads(again.stdout)["counts"] == {
        "added": 0,
        "removed": 0,
        "changed": 0,
        "unchanged": 3,
    }


@pytest.mark.parametrize(
    ("stored", "desired"),
    [
        ({"metadata": {"n": 1}}, {"metadata": {"n": 1.0}}),  # a number's type is data
        ({"metadata": {"n": 1}}, {"metadata": {"n": True}}),
        ({"metadata": {"n": 1}}, {}),
        ({"text": "x"}, {"text": "y"}),
        ({"vector": [1.0, 0.0]}, {"vector": [1.0, 1e-30]}),
        ({"vector": [1.0, 0.0]}, {"vector": [1.0, -0.0]}),  # bit for bit
    ],
)
def test_diff_sees_every_change(
    url: str, tmp_path: Path, stored: dict[str, Any], desired: dict[str, Any]
) -> None:
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", [{"id": "a", "vector": [1.0, 0.0], **stored}])
    pack = write(tmp_path / "docs.jsonl", [{"id": "a", "vector": [1.0, 0.0], **desired}])
    data = json.loads(run("diff", "acme", "docs", str(pack), "--json", "--store", url).stdout)
    assert data["changed"] == ["a"]


def test_diff_ignores_key_order_and_integer_spelling(url: str, tmp_path: Path) -> None:
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", [{"id": "a", "vector": [1, 0], "metadata": {"x": 1, "y": 2}}])
    pack = write(
        tmp_path / "p.jsonl", ['{"id": "a", "vector": [1.0, 0], "metadata": {"y": 2, "x": 1}}']
    )
    data = json.loads(run("diff", "acme", "docs", str(pack), "--json", "--store", url).stdout)
    assert data["counts"]["unchanged"] == 1 and data["changed"] == []


def test_diff_of_a_missing_collection(url: str, tmp_path: Path) -> None:
    result = run("diff", "acme", "docs", str(write(tmp_path / "x.jsonl", DOCS)), "--store", url)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"acme/docs <- {tmp_path / 'x.jsonl'}: 3 added, 0 removed, 0 changed, 0 unchanged "
        "(the collection does not exist: apply creates it)",
        "+ a",
        "+ b",
        "+ c",
    ]
    assert state(url) == {}  # diff writes nothing


BAD = {
    "bad-json": ["{nope"],
    "not-an-object": ["[1, 2]"],
    "nan": ['{"id": "a", "vector": [NaN, 1, 1]}'],
    "missing-id": [{"vector": [1, 1, 1]}],
    "empty-id": [{"id": "", "vector": [1, 1, 1]}],
    "nul-id": [{"id": "a\u0000b", "vector": [1, 1, 1]}],
    "long-id": [{"id": "x" * 1025, "vector": [1, 1, 1]}],
    "int-id": [{"id": 7, "vector": [1, 1, 1]}],
    "duplicate-id": [{"id": "a", "vector": [1, 1, 1]}, {"id": "a", "vector": [1, 1, 1]}],
    "missing-vector": [{"id": "a"}],
    "empty-vector": [{"id": "a", "vector": []}],
    "vector-not-a-list": [{"id": "a", "vector": "1,1,1"}],
    "inconsistent-vectors": [{"id": "a", "vector": [1, 1, 1]}, {"id": "b", "vector": [1, 1]}],
    "strings-in-vector": [{"id": "a", "vector": [1, "x", 1]}],
    "zero-vector": [{"id": "a", "vector": [1, 1, 1]}, {"id": "b", "vector": [0, 0, 0]}],
    "infinite-metadata": ['{"id": "a", "vector": [1, 1, 1], "metadata": {"k": 1e999}}'],
    "huge-int-metadata": [{"id": "a", "vector": [1, 1, 1], "metadata": {"k": 2**64}}],
    "metadata-not-object": [{"id": "a", "vector": [1, 1, 1], "metadata": [1]}],
    "text-not-string": [{"id": "a", "vector": [1, 1, 1], "text": 1}],
    "nul-text": [{"id": "a", "vector": [1, 1, 1], "text": "a\u0000"}],
    "unknown-field": [{"id": "a", "vector": [1, 1, 1], "metdata": {}}],
    "two-models": [
        {"id": "a", "vector": [1, 1, 1], "model": "m"},
        {"id": "b", "vector": [1, 1, 1], "model": "n"},
    ],
    "two-metrics": [
        {"id": "a", "vector": [1, 1, 1], "metric": "l2"},
        {"id": "b", "vector": [1, 1, 1], "metric": "ip"},
    ],
    "unknown-metric": [{"id": "a", "vector": [1, 1, 1], "metric": "dot"}],
    "model-not-string": [{"id": "a", "vector": [1, 1, 1], "model": 3}],
    "too-many-dims": [{"id": "a", "vector": [1.0] * 16001}],
}


@pytest.mark.parametrize("lines", BAD.values(), ids=BAD.keys())
def test_a_bad_pack_never_creates_its_collection(
    url: str, tmp_path: Path, lines: list[Any]
) -> None:
    pack = write(tmp_path / "docs.jsonl", [*lines, {"id": "zz", "vector": [1, 1, 1]}])
    for command in (["apply", "acme", str(pack)], ["diff", "acme", "docs", str(pack)]):
        result = run(*command, "--store", url)
        assert result.exit_code == 1, result.output
        line = error_line(result.stderr)
        assert line.startswith("error: invalid_argument: ") and str(pack) in line
    assert state(url) == {}


@pytest.mark.parametrize("lines", BAD.values(), ids=BAD.keys())
def test_a_bad_pack_changes_nothing(url: str, tmp_path: Path, lines: list[Any]) -> None:
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", [{"id": "keep", "vector": [1.0, 2.0, 3.0], "text": "t"}])
    before = state(url)
    pack = write(tmp_path / "docs.jsonl", lines)
    assert apply(url, pack).exit_code == 1
    assert state(url) == before


def test_the_error_names_the_line(url: str, tmp_path: Path) -> None:
    pack = write(tmp_path / "docs.jsonl", [DOCS[0], "", {"id": "b", "vector": [0, 0, 0]}])
    line = error_line(apply(url, pack).stderr)
    assert f"{pack} line 3: " in line and "zero vector" in line
    write(pack, [DOCS[0], DOCS[1], DOCS[0]])
    assert "line 3: duplicate id 'a' (first on line 1)" in apply(url, pack).stderr


@pytest.mark.parametrize(
    ("pin", "line"),
    [
        (Collection("docs", 2), {"id": "a", "vector": [1, 1, 1]}),
        (Collection("docs", 3, "other"), {"id": "a", "vector": [1, 1, 1], "model": "toy"}),
        (Collection("docs", 3, "", "l2"), {"id": "a", "vector": [1, 1, 1], "metric": "ip"}),
    ],
    ids=["dimensions", "model", "metric"],
)
def test_a_pack_for_another_vector_space_conflicts(
    url: str, tmp_path: Path, pin: Collection, line: dict[str, Any]
) -> None:
    with nighdb.open_store(url) as store:
        store.ensure_collection("acme", pin)
    before = state(url)
    result = apply(url, write(tmp_path / "docs.jsonl", [line]))
    assert result.exit_code == 1
    err = error_line(result.stderr)
    assert err.startswith(f"error: collection_conflict: pack {tmp_path / 'docs.jsonl'}: ")
    assert state(url) == before


def test_a_pack_naming_no_metric_keeps_the_stored_one(url: str, tmp_path: Path) -> None:
    with nighdb.open_store(url) as store:
        store.ensure_collection("acme", Collection("docs", 2, "", "l2"))
    # A zero vector is valid under l2: the rules are those of the stored pin.
    assert (
        apply(url, write(tmp_path / "docs.jsonl", [{"id": "z", "vector": [0, 0]}])).exit_code == 0
    )
    assert state(url)["docs"][0].metric == "l2"


def test_a_pack_names_the_metric_of_a_new_collection(url: str, tmp_path: Path) -> None:
    lines = [{"id": "a", "vector": [1, 1]}, {"id": "b", "vector": [0, 0], "metric": "ip"}]
    assert apply(url, write(tmp_path / "docs.jsonl", lines)).exit_code == 0
    assert state(url)["docs"][0] == Collection("docs", 2, "", "ip")


def test_an_empty_pack_empties_and_keeps_but_never_creates(url: str, tmp_path: Path) -> None:
    empty = write(tmp_path / "docs.jsonl", ["", "  "])
    skipped = apply(url, empty, "--json")
    assert skipped.exit_code == 0
    assert json.loads(skipped.stdout)["applied"][0]["skipped"] is True
    assert state(url) == {}
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", DOCS[1:], model="toy")
    assert json.loads(run("diff", "acme", "docs", str(empty), "--json", "--store", url).stdout)[
        "removed"
    ] == ["b", "c"]
    result = apply(url, empty)
    assert result.exit_code == 0 and "0 added, 0 changed, 2 deleted, 0 unchanged" in result.stdout
    pin, stored = state(url)["docs"]
    assert pin == Collection("docs", 3, "toy") and stored == {}


def test_a_directory_applies_its_packs_in_name_order(url: str, tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    write(packs / "b.jsonl", [{"id": "b1", "vector": [1, 0]}])
    write(packs / "a.jsonl", [{"id": "a1", "vector": [1, 0, 0]}])
    write(packs / "notes.txt", ["not a pack"])
    write(packs / "sub" / "c.jsonl", [{"id": "c1", "vector": [1]}])
    with nighdb.open_store(url) as store:
        seed(store, "acme", "unmanaged", [{"id": "u", "vector": [1.0]}])
    result = apply(url, packs)
    assert result.exit_code == 0, result.output
    assert [line.split(" -> ")[0] for line in result.stdout.splitlines()] == [
        str(packs / "a.jsonl"),
        str(packs / "b.jsonl"),
    ]
    assert sorted(state(url)) == ["a", "b", "unmanaged"]  # packs never drop collections


def test_a_directory_stops_at_the_first_bad_pack(url: str, tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    write(packs / "1-good.jsonl", [{"id": "g", "vector": [1, 0]}])
    write(packs / "2-bad.jsonl", [{"id": "x", "vector": [1, 0]}, {"id": "x", "vector": [1, 0]}])
    write(packs / "3-later.jsonl", [{"id": "l", "vector": [1, 0]}])
    result = apply(url, packs)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{packs / '1-good.jsonl'} -> acme/1-good: created, 1 added, 0 changed, 0 deleted, "
        "0 unchanged"
    ]
    assert f"{packs / '2-bad.jsonl'} line 2: duplicate id 'x'" in error_line(result.stderr)
    assert sorted(state(url)) == ["1-good"]  # earlier packs stay applied; later ones never ran


def test_an_interrupted_apply_converges_when_run_again(url: str, tmp_path: Path) -> None:
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", [{"id": f"old{n}", "vector": [1.0, n]} for n in range(5)])
    lines = [{"id": f"new{n}", "vector": [float(n), 1.0]} for n in range(10)]
    pack = read_pack(write(tmp_path / "docs.jsonl", lines))

    class CrashError(Exception):
        pass

    class Flaky:
        def __init__(self, store: nighdb.Store) -> None:
            self.store, self.calls = store, 0

        def upsert(self, *args: Any) -> int:
            self.calls += 1
            if self.calls == 2:
                raise CrashError
            return self.store.upsert(*args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.store, name)

    with nighdb.open_store(url) as store:
        with pytest.raises(CrashError):
            apply_pack(Flaky(store), "acme", pack, batch_size=4)
        assert store.count("acme", "docs") == 9  # half-applied: 4 new, 5 old
        result = apply_pack(store, "acme", pack, batch_size=4)
        # The 4 items written before the crash are already right: only the rest is written.
        assert (result.added, result.unchanged, result.deleted) == (6, 4, 5)
        assert sorted(store.list_ids("acme", "docs")) == sorted(pack.ids)


def test_apply_refuses_a_file_that_is_not_a_pack(url: str, tmp_path: Path) -> None:
    other = write(tmp_path / "docs.json", DOCS)
    result = apply(url, other)
    assert result.exit_code == 1 and "NAME.jsonl" in error_line(result.stderr)
    assert apply(url, tmp_path / "missing.jsonl").exit_code == 1


def test_an_empty_directory_applies_nothing(url: str, tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    result = apply(url, tmp_path / "packs")
    assert result.exit_code == 0 and "nothing to apply" in result.stderr


def test_the_real_executable(url: str, tmp_path: Path) -> None:
    pack = write(tmp_path / "docs.jsonl", DOCS)
    diff = nigh("diff", "acme", "docs", str(pack), "--json", "--store", url)
    assert diff.returncode == 0, diff.stderr
    assert json.loads(diff.stdout)["added"] == ["a", "b", "c"]
    applied = nigh("--store", url, "apply", "acme", str(tmp_path))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == (
        f"{pack} -> acme/docs: created, 3 added, 0 changed, 0 deleted, 0 unchanged"
    )
    write(pack, [DOCS[0], DOCS[0]])
    bad = nigh("--store", url, "apply", "acme", str(pack))
    assert bad.returncode == 1
    assert error_line(bad.stderr).startswith(f"error: invalid_argument: {pack} line 2: ")


def _seqs(url: str, name: str) -> dict[str, int]:
    """Each stored row's write sequence, read straight from the SQLite file: an upsert of an
    id gives its row a new ``seq``, so an unchanged ``seq`` means the row was not rewritten."""
    import sqlite3

    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        (cid,) = db.execute(
            "SELECT id FROM nigh_collections WHERE tenant = 'acme' AND name = ?", (name,)
        ).fetchone()
        return dict(db.execute(f"SELECT id, seq FROM nigh_items_{int(cid)}").fetchall())
    finally:
        db.close()


def test_apply_leaves_unchanged_items_alone(url: str, tmp_path: Path) -> None:
    pack = write(tmp_path / "docs.jsonl", DOCS)
    assert apply(url, pack).exit_code == 0
    before = _seqs(url, "docs")
    # a: changed, b: removed, c: unchanged (an empty metadata object is no metadata), d: added.
    c = {**DOCS[2], "metadata": {}}
    write(pack, [{**DOCS[0], "text": "A2"}, c, {"id": "d", "vector": [1.0, 1.0, 0.0]}])
    diff = json.loads(run("diff", "acme", "docs", str(pack), "--json", "--store", url).stdout)
    result = apply(url, pack, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        f"{pack} -> acme/docs: 1 added, 1 changed, 1 deleted, 1 unchanged"
    )
    (applied,) = json.loads(result.stdout)["applied"]
    assert {k: applied[k] for k in ("added", "changed", "deleted", "unchanged", "upserted")} == {
        "added": 1,
        "changed": 1,
        "deleted": 1,
        "unchanged": 1,
        "upserted": 2,
    }
    assert diff["counts"] == {"added": 1, "removed": 1, "changed": 1, "unchanged": 1}
    after = _seqs(url, "docs")
    assert after["c"] == before["c"]  # not rewritten
    assert after["a"] > before["a"] and "d" in after and "b" not in after
    again = apply(url, pack)  # nothing to do: nothing written at all
    assert again.stdout.strip().endswith("0 added, 0 changed, 0 deleted, 3 unchanged")
    assert _seqs(url, "docs") == after


def test_a_header_line_is_read_by_packs_too(url: str, tmp_path: Path) -> None:
    """An export is a valid pack: its header pins the collection apply creates."""
    with nighdb.open_store(url) as store:
        store.ensure_collection("acme", Collection("l2", 3, "toy", "l2"))
        store.upsert("acme", "l2", [{"id": "x", "vector": [1.0, 2.0, 3.0]}])
    exported = tmp_path / "l2.jsonl"
    assert run("export", "acme", "l2", str(exported), "--store", url).exit_code == 0
    copy = exported.rename(tmp_path / "copy.jsonl")
    result = apply(url, copy)
    assert result.exit_code == 0, result.output
    pin, stored = state(url)["copy"]
    assert pin == Collection("copy", 3, "toy", "l2") and list(stored) == ["x"]
    assert apply(url, copy).stdout.strip().endswith("0 deleted, 1 unchanged")
