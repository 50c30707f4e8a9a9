#!/usr/bin/env python3
# /// script
# requires-python = ">=3.10,<3.13"
# dependencies = ["duckdb==1.5.5", "duckdb-extension-sqlite-scanner==1.5.5"]
# ///
"""Install DuckDB's sqlite extension offline, from the pip wheel, so DuckDB can read xetrack files.

Why: a xetrack database is a SQLite file for both engines. `Tracker(engine='duckdb')`, `Reader(engine='duckdb')`
and any DuckDB query over the file go through DuckDB's `sqlite` extension, which DuckDB normally *downloads*
at first use. With no network that fails ("Failed to download extension sqlite_scanner"). The wheel
`duckdb-extension-sqlite-scanner` ships the signed binary for one exact DuckDB version; this installs it into
DuckDB's extension directory. It is idempotent, never enables unsigned extensions, and does nothing when the
extension is already installed.

Usage:
  python scripts/setup_duckdb.py          install if missing, then print where it is
  python scripts/setup_duckdb.py --check  only report; exit 1 if DuckDB cannot load the extension

Exit codes: 0 ready · 1 not available (the message says what to install) · 2 usage error.
"""

from __future__ import annotations

import argparse
import sys

# The logic lives in the shared package (the readers call it too); this file is its command line.
from _bench.duckdb_extension import (  # noqa: F401 - re-exported: `from setup_duckdb import ...` in docs and tests
    ExtensionUnavailable,
    _first_line,
    _installed_path,
    bundled_extension_file,
    ensure_sqlite_extension,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="setup_duckdb.py",
        description="Install DuckDB's sqlite extension from its pip wheel (offline) so DuckDB can read xetrack files.",
        epilog="Exit codes: 0 ready; 1 not available (the message says what to install); 2 usage error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="only report whether DuckDB can load the extension")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.check:
            import duckdb

            con = duckdb.connect()
            path = _installed_path(con)
            if path is None:
                raise ExtensionUnavailable("sqlite extension not installed; run: python scripts/setup_duckdb.py")
            con.execute("LOAD sqlite")
        else:
            path = ensure_sqlite_extension()
    except ExtensionUnavailable as exc:
        print(f"setup_duckdb.py: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - any DuckDB failure is reported in one line
        print(f"setup_duckdb.py: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    # trial R: it looked like a write outside the project, unannounced; it is DuckDB's own folder, once per user
    print(f"DuckDB sqlite extension ready: {path} (DuckDB's extension folder, shared by every project of this user; "
          "used by --engine duckdb, more than 10 files at once, and xetrack's duckdb engine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
