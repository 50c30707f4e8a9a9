"""Docs are code: every Python and shell block in SKILL.md, README.md and references/*.md runs as a test.

Each Markdown file runs top to bottom in its own empty working directory, where `scripts/`, `assets/` and
`references/` point at the repository's, so blocks use the same relative paths a reader would. Python blocks
share one namespace per file; shell blocks (`bash`, `sh`, `shell`) run with `bash -euo pipefail`, with this
interpreter first on PATH as `python`, and must exit 0 (write `cmd || test $? -eq 1` to show a failing exit).
A block that must not run carries a visible `<!-- skip: next ... -->` comment saying why.

Slow blocks: a block that runs a template (`assets/*_template.py`) or `demo.sh` takes seconds, so it is marked
`slow` (the marker in pyproject.toml), and so is every later block of the same file, because later blocks read
what it wrote (`llm.db`, `demo/`) and would fail without it. `pytest -m "not slow"` therefore runs each file's
blocks up to its first template run; the full suite runs them all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.integration import pytest as sybil_pytest
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parent
LINKED = ("scripts", "assets", "references", "demo.sh", "tests")
SHELL_TIMEOUT_S = 900
RUNS_A_TEMPLATE = re.compile(r"assets/\w+_template\.py|\bdemo\.sh\b")


def _full_traceback_when_sybil_cannot_cut_it(original):
    # Sybil 10 assumes at least two frames below its own; a failure raised straight from a C extension
    # (DuckDB, sqlite3) has fewer, and pytest then dies with INTERNALERROR instead of showing the failure.
    def traceback_filter(self, excinfo):
        try:
            return original(self, excinfo)
        except IndexError:
            return excinfo.traceback

    return traceback_filter


sybil_pytest.SybilItem._traceback_filter = _full_traceback_when_sybil_cannot_cut_it(
    sybil_pytest.SybilItem._traceback_filter)


def _setup(namespace: dict) -> None:
    sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "assets")]
    from setup_duckdb import ensure_sqlite_extension

    ensure_sqlite_extension()  # DuckDB recipes in the docs must run offline
    workdir = Path(tempfile.mkdtemp(prefix="docs-"))
    for name in LINKED:
        (workdir / name).symlink_to(ROOT / name, target_is_directory=(ROOT / name).is_dir())
    namespace["_previous_cwd"] = os.getcwd()
    os.chdir(workdir)


def _teardown(namespace: dict) -> None:
    os.chdir(namespace["_previous_cwd"])


def evaluate_shell(example) -> str | None:
    """Run a shell block; a returned message is Sybil's way of reporting a failed example."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONHASHSEED", "random")
    env["BENCH_PYTHON"] = sys.executable  # demo.sh: use this environment instead of creating .venv
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", example.parsed], cwd=os.getcwd(), env=env,
        capture_output=True, text=True, timeout=SHELL_TIMEOUT_S,
    )
    if proc.returncode != 0:
        return (
            f"shell block exited {proc.returncode}\n--- block ---\n{example.parsed}"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return None


pytest_collect_file = Sybil(
    parsers=[
        PythonCodeBlockParser(),
        CodeBlockParser(language="bash", evaluator=evaluate_shell),
        CodeBlockParser(language="sh", evaluator=evaluate_shell),
        CodeBlockParser(language="shell", evaluator=evaluate_shell),
        SkipParser(),
    ],
    patterns=["SKILL.md", "README.md", "references/*.md"],
    setup=_setup,
    teardown=_teardown,
).pytest()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items) -> None:
    """Mark slow every doc block that runs a template or demo.sh, and every later block of its file."""
    slow_files = set()
    for item in items:  # collection order is document order
        if not isinstance(item, sybil_pytest.SybilItem):
            continue
        if item.path in slow_files or RUNS_A_TEMPLATE.search(str(item.example.parsed)):
            slow_files.add(item.path)
            item.add_marker(pytest.mark.slow)
