"""DuckDB reads xetrack files with no network: the sqlite extension comes from its pip wheel."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT, run_python

SCRIPT = ROOT / "scripts" / "setup_duckdb.py"


def run(args, home: Path, **kw):
    env = {**os.environ, "HOME": str(home)}
    return run_python(*args, env=env, timeout=300, **kw)


@pytest.fixture
def clean_home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def test_check_reports_missing_extension_in_a_clean_home(clean_home):
    proc = run([str(SCRIPT), "--check"], clean_home)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "setup_duckdb.py: error: sqlite extension not installed; run: python scripts/setup_duckdb.py")


def test_install_is_offline_idempotent_and_lands_in_duckdbs_extension_directory(clean_home):
    first = run([str(SCRIPT)], clean_home)
    assert first.returncode == 0, first.stderr
    installed = list((clean_home / ".duckdb" / "extensions").rglob("sqlite_scanner.duckdb_extension"))
    assert len(installed) == 1
    mtime = installed[0].stat().st_mtime_ns
    second = run([str(SCRIPT)], clean_home)
    assert second.returncode == 0 and first.stdout == second.stdout
    assert installed[0].stat().st_mtime_ns == mtime, "a second run must not reinstall"
    assert run([str(SCRIPT), "--check"], clean_home).returncode == 0


def test_xetrack_duckdb_engine_logs_and_reads_back_in_a_clean_home(clean_home, tmp_path):
    """The acceptance case: Tracker(engine='duckdb') in an empty HOME, with no network."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / 'scripts')!r})
        from setup_duckdb import ensure_sqlite_extension
        ensure_sqlite_extension()
        from xetrack import Reader, Tracker
        t = Tracker({str(tmp_path / 'd.db')!r}, engine='duckdb', params={{'model': 'bert'}})
        t.log({{'input_id': 1, 'acc': 0.75}})
        df = Reader({str(tmp_path / 'd.db')!r}, engine='duckdb').to_df()
        print(df[['model', 'input_id', 'acc']].values.tolist())
    """)
    proc = run(["-c", code], clean_home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[['bert', 1, 0.75]]"


def test_without_the_extension_wheel_the_user_is_told_what_to_install(clean_home):
    code = textwrap.dedent(f"""
        import sys
        sys.modules['duckdb_extension_sqlite_scanner'] = None  # as if the wheel were not installed
        sys.argv = ['setup_duckdb.py']
        sys.path.insert(0, {str(ROOT / 'scripts')!r})
        import setup_duckdb
        raise SystemExit(setup_duckdb.main([]))
    """)
    proc = run(["-c", code], clean_home)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "pip install 'duckdb==1.5.5' 'duckdb-extension-sqlite-scanner==1.5.5'" in proc.stderr
