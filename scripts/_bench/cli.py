"""The one contract every database script in scripts/ keeps: arguments, report shape, status, exit codes.

- Arguments: `DB [DB ...] [TABLE]`, `--table`, `--engine`, `--json`, `--input-col`, `--config-cols`, and
  `--fail-on info|warning|error` (each script states its default in --help and in the README's table).
- Status, one meaning everywhere (it says why the exit code is what it is):
    ok        exit 0  nothing at or above --fail-on (findings below it may be listed)
    findings  exit 1  at least one finding at or above --fail-on
    empty     exit 1  nothing was inspected (empty table, or none of the columns a check needs)
    error     exit 2  usage or input error (one line on stderr)
- JSON (`--json`): one strict document (no NaN/Infinity: a non-finite number becomes null and the report
  gets a `report.non-finite` finding naming where). `schema_version` is bumped on any breaking change
  (a field removed, renamed or given another meaning), not for added fields (README, 'The scripts').
- Reports go to stdout, diagnostics to stderr. No traceback reaches the user unless BENCH_DEBUG=1 is set.
Each script exposes `build_parser()` and `main(argv) -> int`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _bench.engine import AUTO_DUCKDB_ROWS, EngineChoice, choose_engine
from _bench.reader import EmptyBenchmark, InputError, first_line

SCHEMA_VERSION = 2
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
SEVERITIES = ("info", "warning", "error")
MAX_EXAMPLES = 5

EXIT_CODES_EPILOG = """status and exit codes (the same for every script):
  ok        0  clean: nothing at or above --fail-on, and at least one row inspected
  findings  1  a finding at or above --fail-on
  empty     1  nothing to inspect (empty table, or none of the columns the checks need)
  error     2  usage or input error (missing file, not a database, unknown table, ...): one line on stderr"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors are one line `prog: error: …` with exit 2 (no usage dump)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def base_parser(prog: str, description: str, examples: str, fail_on: str) -> ArgumentParser:
    """The arguments every database script shares; `fail_on` is this script's default gate."""
    parser = ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"examples:\n{examples}\n\n{EXIT_CODES_EPILOG}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="DB",
                        help="one or more xetrack database files (one per worker/machine are read as one "
                             "benchmark), optionally followed by the TABLE name (default: 'default')")
    parser.add_argument("--table", help="table name (alternative to the trailing TABLE argument)")
    parser.add_argument("--engine", choices=("auto", "sqlite", "duckdb"), default="auto",
                        help="how to read the files; the results are the same. auto (default): through DuckDB "
                             f"from {AUTO_DUCKDB_ROWS:,} rows (faster there) when its sqlite extension is "
                             "installed, else through sqlite3 (faster on small files)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--input-col", metavar="COL", help="the column identifying an input/datapoint "
                        "(default: inferred, e.g. input_id, item_id, example_id)")
    parser.add_argument("--config-cols", metavar="A,B", type=comma_list,
                        help="the columns that make up a configuration (default: inferred parameters)")
    parser.add_argument("--replicate-cols", metavar="A,B", type=comma_list,
                        help="the columns that number repeats of one input: seeds, samples (default: inferred "
                             "from names such as seed, repeat, trial, sample_idx, or an integer `sample`)")
    parser.add_argument("--fail-on", choices=SEVERITIES, default=fail_on,
                        help=f"lowest finding severity that makes the exit code 1 (default: {fail_on})")
    return parser


def comma_list(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of column names")
    return items


def split_paths_and_table(positionals: list[str], table_option: str | None) -> tuple[list[str], str]:
    """Seed-compatible `<db> [table]`, extended to `<db> [<db> ...] [table]`.

    The last positional is the table when there are several and it is not an existing path.
    """
    paths = list(positionals)
    table = None
    if len(paths) > 1 and not Path(paths[-1]).exists() and not paths[-1].endswith((".db", ".sqlite", ".duckdb")):
        table = paths.pop()
    if table and table_option and table != table_option:
        raise InputError(f"table given twice: {table!r} and --table {table_option!r}")
    return paths, table or table_option or "default"


COMPANION_SUFFIXES = ("", "-wal", "-journal", "-shm")  # SQLite's files for one database


def refuse_output_over_inputs(outputs: dict[str, Path | str | None], inputs: list[str | Path]) -> None:
    """Raise InputError when an output path (option -> path) is an input database or one of its SQLite
    companions, by name or through a symlink or hard link: writing it would destroy the benchmark. Call it
    before anything is opened or written. Outputs that are None (option not given) are ignored."""
    protected = []
    for given in inputs:
        for suffix in COMPANION_SUFFIXES:
            path = Path(str(given) + suffix)
            protected.append((given, suffix, path, path.resolve()))
    for option, out in outputs.items():
        if out is None:
            continue
        target = Path(out).resolve()
        for given, suffix, path, resolved in protected:
            if target == resolved or _same_file(Path(out), path):
                what = f"the input database {given}" if not suffix else f"the {suffix[1:]} file of input {given}"
                raise InputError(f"{option} {out} is {what}; refusing to overwrite it (choose another file name)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


@dataclass
class Finding:
    check_id: str
    severity: str
    message: str
    hint: str
    examples: list = field(default_factory=list)
    examples_total: int | None = None  # how many examples exist in all; None = len(examples)

    def as_dict(self) -> dict:
        total = len(self.examples) if self.examples_total is None else self.examples_total
        shown = self.examples[:MAX_EXAMPLES]
        return {"check_id": self.check_id, "severity": self.severity, "message": self.message, "hint": self.hint,
                "examples": shown, "examples_omitted": max(0, total - len(shown))}


@dataclass
class Report:
    """One script's answer. `sections` are the script's own top-level fields (after the shared ones)."""

    tool: str
    summary: dict
    findings: list[Finding] = field(default_factory=list)
    inferred: dict | None = None
    sections: dict = field(default_factory=dict)
    status: str = "ok"
    fail_on: str = "error"
    attachments: dict = field(default_factory=dict)  # for the script's own use (e.g. plotting); never printed

    def finish(self, fail_on: str, inspected: bool = True) -> int:
        """Make the report strict (non-finite numbers become null, with a finding), set `status` and return
        the exit code. Call once, before printing."""
        self.fail_on = fail_on
        where = _non_finite_paths({"summary": self.summary, "sections": self.sections})
        if where:
            self.summary = _finite(self.summary)
            self.sections = _finite(self.sections)
            self.findings.append(Finding(
                "report.non-finite", "warning",
                f"{len(where)} numbers in this report are not finite (NaN or infinity) and are shown as null.",
                "A metric column holds NaN/inf or values that overflow: find the rows and fix or exclude them.",
                where, len(where)))
        if not inspected:
            self.status = "empty"
            return EXIT_FINDINGS
        self.status = "findings" if failing(self.findings, fail_on) else "ok"
        return EXIT_FINDINGS if self.status == "findings" else EXIT_OK

    def counts(self) -> dict[str, int]:
        return {sev: sum(f.severity == sev for f in self.findings) for sev in reversed(SEVERITIES)}

    def as_dict(self) -> dict:
        doc = {"schema_version": SCHEMA_VERSION, "tool": self.tool, "status": self.status,
               "fail_on": self.fail_on, "counts": self.counts(), "summary": self.summary,
               "findings": [f.as_dict() for f in self.findings]}
        if self.inferred is not None:
            doc["inferred"] = self.inferred
        doc.update(self.sections)
        return doc

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str, allow_nan=False)


def note(prog: str, message: str) -> None:
    """A diagnostic that is not an error (how the input was read): one line on stderr."""
    print(f"{prog}: note: {message}", file=sys.stderr)


def pick_engine(prog: str, requested: str, paths: list[str], table: str) -> EngineChoice:
    """The engine to read with (--engine auto decides by size); a note on stderr when auto chose DuckDB or
    could not."""
    choice = choose_engine(requested, paths, table)
    if choice.noted:
        note(prog, f"engine {choice.reason}")
    return choice


def record_engine(summary: dict, choice: EngineChoice, used: str) -> None:
    """`engine` (what read the rows) and `engine_reason` (why) in a report's summary."""
    summary["engine"] = used
    summary["engine_reason"] = choice.reason if used == choice.engine else (
        f"{choice.reason}; then {used} (" + ("DuckDB refused a mixed-type column" if used == "sqlite"
                                             else "more files than sqlite3 attaches, or a native DuckDB file") + ")")


def at_or_above(severity: str, level: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(level)


def failing(findings: list[Finding], fail_on: str) -> list[Finding]:
    return [f for f in findings if at_or_above(f.severity, fail_on)]


def _non_finite_paths(value, path: str = "") -> list[str]:
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path.lstrip(".")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite_paths(v, f"{path}.{k}")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _non_finite_paths(v, f"{path}[{i}]")]
    return []


def _finite(value):
    """A copy of `value` with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def run(prog: str, parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], int],
        argv: list[str] | None = None,
        check: Callable[[argparse.ArgumentParser, argparse.Namespace], None] | None = None) -> int:
    """Parse the arguments and run a script body; turn every expected failure into one line and the
    documented exit code (returned, never raised: `main(argv) -> int`).

    `check(parser, args)` says what argparse cannot (combinations, ranges) through parser.error: a usage
    error, like argparse's own. With --json in argv, failures after that also print a JSON document (status
    'error' or 'empty') on stdout.
    """
    args_list = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in args_list
    try:
        args = parser.parse_args(args_list)
        if check is not None:
            check(parser, args)
    except SystemExit as exc:  # --help (0) or a usage error already printed in one line (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return body(args)
    except InputError as exc:
        return _fail(prog, str(exc), EXIT_USAGE, "error", as_json)
    except EmptyBenchmark as exc:
        return _fail(prog, str(exc), EXIT_FINDINGS, "empty", as_json)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `script | head` closed the pipe: not an error worth a traceback
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback, unless asked for
        if os.environ.get("BENCH_DEBUG"):
            raise
        return _fail(prog, f"internal error: {type(exc).__name__}: {first_line(exc)} "
                           "(set BENCH_DEBUG=1 for a traceback, and please report it)", EXIT_USAGE, "error",
                     as_json)


def _fail(prog: str, message: str, code: int, status: str, json_mode: bool) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    if json_mode:
        report = Report(prog, {"rows_inspected": 0}, status=status)
        try:
            print(json.dumps({**report.as_dict(), "error": message}, indent=2))
        except BrokenPipeError:
            _silence_stdout()
    return code


def _silence_stdout() -> None:
    """The reader went away: point stdout at /dev/null so the interpreter's final flush cannot fail loudly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
