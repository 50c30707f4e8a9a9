"""The scripts run from a bare checkout with `uv run`: their PEP 723 headers declare what they need.

uv resolves each script's inline dependencies into its own cached environment (from the package registry), so
this also proves the headers are complete: a missing dependency fails here, not on a user's machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT
from xetrack_fixtures import clean_benchmark

UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
CLI_SCRIPTS = ("validate_benchmark.py", "analyze_cache_hits.py", "export_summary.py")


@pytest.fixture(scope="module")
def bare_checkout(tmp_path_factory) -> Path:
    """Only scripts/ and a database: no installed project, no tests, no conftest."""
    root = tmp_path_factory.mktemp("bare")
    shutil.copytree(ROOT / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    clean_benchmark(root / "bench.db", "sqlite", n_items=10, cache_dir=root / "cache", replay=True)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("script", CLI_SCRIPTS)
def test_uv_runs_each_script_from_its_inline_metadata(bare_checkout, script):
    assert UV, "uv is part of the dev extra: pip install -e '.[dev]'"
    proc = subprocess.run(
        [UV, "run", "--no-project", "--quiet", "--python", sys.executable, f"scripts/{script}", "bench.db",
         "predictions", "--json"],
        cwd=bare_checkout, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["tool"] == script and report["status"] == "ok"
    assert report["summary"]["rows_inspected"] == 40


def test_every_cli_script_declares_inline_metadata():
    for script in (ROOT / "scripts").glob("[!_]*.py"):
        head = script.read_text().split('"""', 1)[0]
        assert "# /// script" in head and "requires-python" in head, script.name
