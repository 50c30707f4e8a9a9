"""Shared pytest wiring: import paths, the DuckDB extension, both engines, and Markdown code blocks as tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Scripts and templates are run as files by users; tests import them the same way, from their folders.
for folder in (ROOT / "scripts", ROOT / "assets", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from helpers import forks_when_alone  # noqa: E402
from setup_duckdb import ensure_sqlite_extension  # noqa: E402
from xetrack_fixtures import ENGINES  # noqa: E402

try:  # no tqdm monitor thread in the test process: export's sliced scan forks only when it runs alone
    import tqdm

    tqdm.tqdm.monitor_interval = 0
except ImportError:
    pass


@pytest.fixture(scope="session", autouse=True)
def duckdb_sqlite_extension() -> str:
    """Install DuckDB's sqlite extension from its wheel once, offline, before any DuckDB-engine test."""
    return ensure_sqlite_extension()


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """Run the test once per xetrack engine: both write SQLite files, through different code paths."""
    return request.param


@pytest.fixture(params=["whole", "sliced"])
def reading(request, monkeypatch) -> str:
    """A test twice: the file read whole, and (SQLite) read as five slices at the same time, as large files
    are (scripts/_bench/slices.py: threads or forked processes), so every fixture also proves that the merged
    slices give what the whole gives. Five cuts land inside most groups of a small fixture."""
    if request.param == "sliced":
        from _bench import slices
        from _bench.summary import scan

        monkeypatch.setattr(slices, "MIN_SLICE_ROWS", 0)
        monkeypatch.setattr(slices, "slice_count", lambda: 5)
        monkeypatch.setattr(scan, "can_fork", forks_when_alone)
    return request.param


@pytest.fixture
def root() -> Path:
    return ROOT
