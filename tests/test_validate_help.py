"""validate_benchmark.py --help stands on its own: it names no file the skill does not ship."""

from __future__ import annotations

from pathlib import Path

import validate_benchmark
from helpers import run_python

SCRIPT = Path(validate_benchmark.__file__)
ROOT = SCRIPT.parent.parent


def test_help_for_snapshot_points_at_no_unshipped_file():
    out = run_python(SCRIPT, "--help", timeout=60)
    flat = " ".join(out.stdout.split())
    assert out.returncode == 0 and "--snapshot" in flat
    assert "benchmarks/README" not in flat
    assert "Only rows already written when the copy starts are validated" in flat
