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


# --- one contract: the same options, status, schema and strict JSON in every script ------------------------

import json  # noqa: E402

import analyze_cache_hits  # noqa: E402
import export_summary  # noqa: E402
import validate_benchmark  # noqa: E402
from _bench import cli as _cli  # noqa: E402
from xetrack_fixtures import log_rows, predict  # noqa: E402

MODULES = {"validate_benchmark.py": validate_benchmark, "analyze_cache_hits.py": analyze_cache_hits,
           "export_summary.py": export_summary}
# Each script's default gate; the README states the same table (checked below).
DEFAULT_FAIL_ON = {"validate_benchmark.py": "error", "analyze_cache_hits.py": "warning",
                   "export_summary.py": "error"}


def _option(parser, flag: str):
    return next(a for a in parser._actions if flag in a.option_strings)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_exposes_build_parser_and_main_and_the_same_fail_on_choices(script):
    parser = MODULES[script].build_parser()
    fail_on = _option(parser, "--fail-on")
    assert tuple(fail_on.choices) == ("info", "warning", "error")
    assert fail_on.default == DEFAULT_FAIL_ON[script]
    assert {"--json", "--engine", "--table", "--input-col", "--config-cols"} <= {
        s for a in parser._actions for s in a.option_strings}


def test_the_readme_states_each_scripts_default_gate():
    readme = (ROOT / "README.md").read_text()
    for script, default in DEFAULT_FAIL_ON.items():
        assert f"| `{script}` | `{default}` |" in readme, script


@pytest.mark.parametrize("script", SCRIPTS)
def test_main_returns_an_exit_code_for_help_and_usage_errors_instead_of_raising(script, capsys):
    assert MODULES[script].main(["--help"]) == 0
    assert MODULES[script].main(["--fail-on", "sometimes", "x.db"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: argument --fail-on" in err


def _failed_and_clean(db: Path) -> Path:
    """Two models, one failing on a few inputs: a finding of each script at warning or error."""
    rows = [{**predict(m, i), "model": m, "error": "boom" if m == "tree" and i < 3 else "",
             "function_name": "predict", "cache": ""} for m in ("logreg", "tree") for i in range(20)]
    log_rows(db, rows, engine="sqlite", table="predictions")
    return db


@pytest.mark.parametrize("script", SCRIPTS)
def test_status_has_one_meaning_it_says_why_the_exit_code_is_what_it_is(script, tmp_path, capsys):
    db = _failed_and_clean(tmp_path / "f.db")
    for fail_on in ("info", "warning", "error"):
        code = MODULES[script].main([str(db), "predictions", "--json", "--fail-on", fail_on])
        doc = json.loads(capsys.readouterr().out)
        gated = [f for f in doc["findings"] if _cli.at_or_above(f["severity"], fail_on)]
        assert doc["schema_version"] == _cli.SCHEMA_VERSION and doc["fail_on"] == fail_on
        assert doc["status"] == ("findings" if gated else "ok") and code == (1 if gated else 0), (fail_on, doc)
        assert doc["counts"] == {s: sum(f["severity"] == s for f in doc["findings"]) for s in
                                 ("error", "warning", "info")}
    assert MODULES[script].main([str(db), "predictions", "--json", "--fail-on", "info"]) == 1, \
        "every script finds something in this benchmark"
    capsys.readouterr()


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_input_error_is_status_error_with_the_same_schema(script, tmp_path, capsys):
    code = MODULES[script].main([str(tmp_path / "missing.db"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["status"] == "error" and doc["schema_version"] == _cli.SCHEMA_VERSION
    assert "no such file" in doc["error"]


def _refuse(token: str):
    raise AssertionError(f"not strict JSON: {token}")


def test_a_report_with_non_finite_numbers_is_strict_json_with_a_finding():
    report = _cli.Report("t.py", {"rows_inspected": 3, "mean": float("inf"), "per": [1.0, float("nan")]})
    assert report.finish("error") == 0
    doc = json.loads(report.to_json(), parse_constant=_refuse)  # json.loads would accept NaN by default
    assert doc["summary"] == {"rows_inspected": 3, "mean": None, "per": [1.0, None]}
    (finding,) = doc["findings"]
    assert finding["check_id"] == "report.non-finite" and finding["examples"] == ["summary.mean", "summary.per[1]"]
    assert report.finish("warning") == 1
