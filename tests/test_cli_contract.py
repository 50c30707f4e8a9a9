"""The contract every script shares (scripts/_cli.py), checked on all three at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT
from xetrack_fixtures import clean_benchmark

SCRIPTS = ("validate_benchmark.py", "analyze_cache_hits.py", "export_summary.py")


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return clean_benchmark(tmp_path_factory.mktemp("c") / "bench.db", "sqlite", n_items=10)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("table", ["predictions", 'x"; DROP TABLE y; --'], ids=["report", "error-report"])
def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(db, script, table):
    # `script ... --json | true`: the reader is gone before the first write (like `| head` on a long report).
    cmd = (f"{sys.executable!s} {ROOT / 'scripts' / script} {db} --table '{table}' --json | true; "
           "exit ${PIPESTATUS[0]}")
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.returncode == (0 if table == "predictions" else 2)
