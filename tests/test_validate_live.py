"""validate_benchmark.py reads a benchmark that another process is still writing, without disturbing it.

A xetrack writer (a real process, SQLite engine, one commit per log) keeps logging while the validator runs
again and again. The validator must always answer (never a lock error at this size), and the writer must
lose nothing and never wait near its 5 s busy timeout. benchmarks/README.md gives what was measured on large
files, where one query holds SQLite's shared lock for seconds.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
import validate_benchmark
import validate_fixtures as vf

WRITER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from xetrack import Tracker
from xetrack_fixtures import predict
db, seconds = sys.argv[1], float(sys.argv[2])
tracker = Tracker(db, table="predictions", params={"experiment_version": "e1"})
worst, n, i, end = 0.0, 0, 1000, time.time() + seconds
print("ready", flush=True)
while time.time() < end:
    for model in ("logreg", "tree"):
        start = time.perf_counter()
        tracker.log({**predict(model, i), "model": model})
        worst = max(worst, time.perf_counter() - start)
        time.sleep(0.002)  # a benchmark computes between logs; a tight loop starves readers (see README)
        n += 1
    i += 1
print(json.dumps({"rows": n, "worst_log_seconds": worst}))
"""


def validate_beside_a_writer(db, root, capsys, *argv: str, seconds: int = 4) -> tuple[list, list, dict]:
    """Validate again and again while a writer process logs; every run starts while it is still writing."""
    vf.log_rows(db, [{**vf.predict(m, i), "model": m} for m in ("logreg", "tree") for i in range(200)],
                engine="sqlite", table=vf.TABLE, params={"experiment_version": "e1"})
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(seconds), str(root / "tests")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        codes, statuses, errors = [], [], []
        while writer.poll() is None:
            codes.append(validate_benchmark.main([str(db), vf.TABLE, "--json", *argv]))
            captured = capsys.readouterr()
            statuses.append(json.loads(captured.out)["status"])
            if codes[-1] == 2:
                errors.append(captured.err.strip())
        out, _ = writer.communicate(timeout=60)
    finally:
        writer.kill()
    assert writer.returncode == 0
    assert codes, "the validator must have run while the writer was writing"
    assert not errors, errors
    return codes, statuses, json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_validating_while_a_writer_logs_disturbs_neither(tmp_path, engine, capsys, root):
    db = tmp_path / "live.db"
    codes, statuses, report = validate_beside_a_writer(db, root, capsys, "--engine", engine)
    assert set(codes) <= {0, 1} and set(statuses) <= {"ok", "findings"}, (codes, statuses)
    # Exit 1 is allowed: a model may be one input ahead of the other at the moment of reading (coverage).
    with sqlite3.connect(db) as con:
        assert con.execute(f'SELECT COUNT(*) FROM "{vf.TABLE}"').fetchone()[0] == 400 + report["rows"]
    # A log takes milliseconds, and a writer kept waiting for the 5 s busy timeout dies with "database is
    # locked" (returncode above); 2 s is hundreds of times a normal log, so only a real stall crosses it.
    assert report["worst_log_seconds"] < 2.0, report


@pytest.mark.parametrize("build", [vf.numpy_scalars, vf.duplicated, vf.replay_lost_parameters],
                         ids=lambda b: b.__name__)
def test_a_snapshot_finds_exactly_what_reading_in_place_finds(tmp_path, engine, capsys, build, monkeypatch):
    db = build(tmp_path, engine)
    validate_benchmark.main([str(db), vf.TABLE, "--engine", engine, "--json"])
    in_place = json.loads(capsys.readouterr().out)
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))  # where the snapshot goes: it must be gone afterwards
    monkeypatch.setattr(validate_benchmark.tempfile, "tempdir", None)
    validate_benchmark.main([str(db), vf.TABLE, "--engine", engine, "--json", "--snapshot"])
    snap = json.loads(capsys.readouterr().out)
    assert snap["findings"] == in_place["findings"] and snap["findings"]
    assert snap["summary"]["rows_inspected"] == in_place["summary"]["rows_inspected"]
    assert list(spool.iterdir()) == []


def test_a_snapshot_copies_in_short_reads_up_to_the_rows_present_at_the_start(tmp_path):
    from _bench.validate.snapshot import snapshot_sqlite

    db = tmp_path / "big.db"
    vf.log_rows(db, [{**vf.predict(m, i), "model": m} for m in ("a", "b") for i in range(250)], engine="sqlite",
                table=vf.TABLE)
    copy = snapshot_sqlite(db, vf.TABLE, tmp_path / "copy.db", chunk=7)
    with sqlite3.connect(copy) as c, sqlite3.connect(db) as o:
        assert c.execute(f'SELECT * FROM "{vf.TABLE}" ORDER BY rowid').fetchall() == \
            o.execute(f'SELECT * FROM "{vf.TABLE}" ORDER BY rowid').fetchall()
        assert c.execute(f"SELECT sql FROM sqlite_master WHERE name = '{vf.TABLE}'").fetchone() == \
            o.execute(f"SELECT sql FROM sqlite_master WHERE name = '{vf.TABLE}'").fetchone()


@pytest.mark.slow
def test_a_snapshot_while_a_writer_logs_disturbs_neither(tmp_path, capsys, root):
    codes, statuses, report = validate_beside_a_writer(tmp_path / "live.db", root, capsys, "--snapshot", seconds=3)
    assert set(codes) <= {0, 1} and set(statuses) <= {"ok", "findings"}
    assert report["worst_log_seconds"] < 2.0, report
