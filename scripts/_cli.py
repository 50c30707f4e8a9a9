"""The contract every script in scripts/ keeps: arguments, report shape, exit codes, one-line errors.

Exit codes: 0 clean and at least one row inspected; 1 findings at or above the fail level, or nothing
inspected; 2 usage or input error. Reports go to stdout (text for people, `--json` for programs: one
document); diagnostics go to stderr. No traceback ever reaches the user unless BENCH_DEBUG=1 is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _db import EmptyBenchmark, InputError, first_line

SCHEMA_VERSION = 1
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
SEVERITIES = ("info", "warning", "error")
MAX_EXAMPLES = 5

EXIT_CODES_EPILOG = """exit codes:
  0  clean, and at least one row was inspected
  1  findings or a failed gate (see the options above), or nothing to inspect (empty table)
  2  usage or input error (missing file, not a database, unknown table, ...)"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors are one line `prog: error: …` with exit 2 (no usage dump)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(prog: str, description: str, examples: str) -> ArgumentParser:
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
    parser.add_argument("--engine", choices=("sqlite", "duckdb"), default="sqlite",
                        help="how to read the files (both engines write SQLite files; default: sqlite)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--input-col", metavar="COL", help="the column identifying an input/datapoint "
                        "(default: inferred, e.g. input_id, item_id, example_id)")
    parser.add_argument("--config-cols", metavar="A,B", type=_comma_list,
                        help="the columns that make up a configuration (default: inferred parameters)")
    return parser


def _comma_list(text: str) -> list[str]:
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
    tool: str
    summary: dict
    findings: list[Finding] = field(default_factory=list)
    inferred: dict | None = None
    status: str = "ok"  # ok | findings | empty | error

    def as_dict(self) -> dict:
        doc = {"schema_version": SCHEMA_VERSION, "tool": self.tool, "status": self.status, "summary": self.summary,
               "findings": [f.as_dict() for f in self.findings]}
        if self.inferred is not None:
            doc["inferred"] = self.inferred
        return doc

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False, default=str)


def note(prog: str, message: str) -> None:
    """A diagnostic that is not an error (how the input was read): one line on stderr."""
    print(f"{prog}: note: {message}", file=sys.stderr)


def at_or_above(severity: str, level: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(level)


def run(prog: str, body: Callable[[], int], argv: list[str] | None = None) -> int:
    """Run a script body; turn every expected failure into one line and the documented exit code.

    With --json in argv, failures also print a JSON document (status 'error' or 'empty') on stdout.
    """
    as_json = "--json" in (sys.argv[1:] if argv is None else argv)
    try:
        return body()
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
        try:
            print(json.dumps({"schema_version": SCHEMA_VERSION, "tool": prog, "status": status,
                              "summary": {"rows_inspected": 0}, "findings": [], "error": message}, indent=2))
        except BrokenPipeError:
            _silence_stdout()
    return code


def _silence_stdout() -> None:
    """The reader went away: point stdout at /dev/null so the interpreter's final flush cannot fail loudly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
