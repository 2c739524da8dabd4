"""nighdb is a real package: ``python -m build`` makes an sdist and a wheel, and the wheel,
installed alone in a fresh virtualenv, runs the README's first example without any extra.

The build runs once per session from a copy of the project whose version in pyproject.toml
is changed, so the checks below also prove that pyproject.toml is the one place the version
is written: ``nighdb.__version__`` in the installed package must report the changed one.
pip fetches the core dependencies (numpy, apsw) from the package index.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

import nighdb

from .test_readme import python_blocks

ROOT = Path(__file__).resolve().parents[1]
VERSION = "0.0.1+packagingtest"
# The optional extras' drivers: none may load with the core package.
OPTIONAL = (
    "psycopg",
    "psycopg_pool",
    "httpx",
    "starlette",
    "uvicorn",
    "click",
    "rich",
    "prometheus_client",
    "sqlite_vec",
)
SKIP = shutil.ignore_patterns(
    ".venv",
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "demo-data",
    "results",
    "*.db",
    "*.db-*",
)


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path
    log: str


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``python -m build`` (sdist, then the wheel from the sdist) of a re-versioned copy."""
    base = tmp_path_factory.mktemp("packaging")
    project = base / "project"
    shutil.copytree(ROOT, project, ignore=SKIP)
    pyproject = project / "pyproject.toml"
    text, n = re.subn(
        r'(?m)^version = "[^"]*"$', f'version = "{VERSION}"', pyproject.read_text("utf-8")
    )
    assert n == 1, "pyproject.toml should write the version exactly once"
    pyproject.write_text(text, "utf-8")
    out = base / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(sdist, wheel, log)


def test_build_is_free_of_deprecation_warnings(built: Built) -> None:
    assert "deprecat" not in built.log.lower(), built.log


def test_wheel_holds_the_typed_package_and_its_license(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as whl:
        names = set(whl.namelist())
        info = f"nighdb-{VERSION}.dist-info"
        meta = whl.read(f"{info}/METADATA").decode()
    assert "nighdb/py.typed" in names
    assert "nighdb/__init__.py" in names
    assert "nighdb/service/console/static/index.html" in names  # the console's files (§19)
    assert "nighdb/service/console/static/console.js" in names
    # the vendored umap-js bundle and its licence, one folder down (package-data globs)
    assert "nighdb/service/console/static/vendor/umap-js.min.js" in names
    assert "nighdb/service/console/static/vendor/LICENSE" in names
    assert f"{info}/licenses/LICENSE" in names
    assert not any(n.startswith(("tests/", "bench/", "examples/")) for n in names)
    assert "License-Expression: Apache-2.0" in meta
    assert re.search(r"(?m)^Project-URL: Homepage, https://", meta)
    assert "Classifier: Typing :: Typed" in meta


def test_sdist_holds_the_docs_license_and_tests(built: Built) -> None:
    top = f"nighdb-{VERSION}"
    with tarfile.open(built.sdist) as tar:
        names = {n.removeprefix(f"{top}/") for n in tar.getnames()}
    for needed in (
        "README.md",
        "LICENSE",
        "pyproject.toml",
        "Makefile",
        "docs/cli.md",
        "docs/benchmarks.png",
        "examples/demo.py",
        "examples/data/wordnet-base.f16.npy",
        "src/nighdb/py.typed",
        "src/nighdb/service/console/static/vendor/umap-js.min.js",
        "tests/test_readme.py",
    ):
        assert needed in names, needed
    assert not any(n.endswith((".pyc", ".db")) or "__pycache__" in n for n in names)


PROBE = """
import json, sys
from pathlib import Path

import nighdb

exec(compile(Path(sys.argv[1]).read_text("utf-8"), "README.md[python block 0]", "exec"),
     {"__name__": "readme_example"})
optional = set(sys.argv[2].split(","))
print(json.dumps({
    "version": nighdb.__version__,
    "file": nighdb.__file__,
    "typed": (Path(nighdb.__file__).parent / "py.typed").is_file(),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in optional),
}))
"""


def test_the_core_wheel_runs_the_readme_in_a_fresh_venv(built: Built, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The core only: no extra. pip fetches numpy and apsw from the index.
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    install = subprocess.run(
        [*pip, "install", "--quiet", str(built.wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert "deprecat" not in (install.stdout + install.stderr).lower(), install.stderr

    work = tmp_path / "work"
    work.mkdir()
    example = work / "example.py"
    example.write_text(python_blocks()[0], "utf-8")
    probe = work / "probe.py"
    probe.write_text(PROBE, "utf-8")
    # -I: no PYTHONPATH, no user site, no working directory on sys.path; only the venv.
    result = subprocess.run(
        [str(python), "-I", str(probe), str(example), ",".join(OPTIONAL)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(venv)
    assert report["version"] == VERSION
    assert report["typed"]
    assert report["loaded"] == []
    assert (work / "vectors.db").is_file()


def test_every_place_reports_the_installed_version() -> None:
    """``nigh --version``, the OpenAPI document and ``__version__`` read the one version."""
    from nighdb.service.limits import ServiceLimits
    from nighdb.service.schemas import openapi_document

    from .cli_support import nigh

    installed = metadata.version("nighdb")
    assert nighdb.__version__ == installed
    assert openapi_document(ServiceLimits())["info"]["version"] == installed
    result = nigh("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"nigh, version {installed}"
