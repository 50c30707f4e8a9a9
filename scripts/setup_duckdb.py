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
from pathlib import Path

EXTENSION = "sqlite_scanner"
PINNED = "1.5.5"  # duckdb and the extension wheel share this version; keep in step with pyproject.toml
WHEEL = "duckdb-extension-sqlite-scanner"


class ExtensionUnavailable(RuntimeError):
    """DuckDB's sqlite extension is neither installed nor installable offline."""


def _installed_path(con) -> str | None:
    row = con.execute(
        "SELECT install_path FROM duckdb_extensions() WHERE extension_name = ? AND installed",
        [EXTENSION],
    ).fetchone()
    return row[0] if row else None


def bundled_extension_file(duckdb_version: str) -> Path | None:
    """The extension binary shipped by the pip wheel for this DuckDB version, if that wheel is installed."""
    try:
        import duckdb_extension_sqlite_scanner as pkg
    except ImportError:
        return None
    path = Path(pkg.__file__).parent / "extensions" / f"v{duckdb_version}" / f"{EXTENSION}.duckdb_extension"
    return path if path.is_file() else None


def ensure_sqlite_extension(con=None) -> str:
    """Make `LOAD sqlite` work with no network; return the installed extension's path.

    Raises ExtensionUnavailable with a one-line, actionable message when it cannot.
    """
    try:
        import duckdb
    except ImportError as exc:
        raise ExtensionUnavailable(f"duckdb is not installed; pip install 'duckdb=={PINNED}' '{WHEEL}=={PINNED}'") from exc
    own = con is None
    con = con or duckdb.connect()
    try:
        path = _installed_path(con)
        if path is None:
            bundled = bundled_extension_file(duckdb.__version__)
            if bundled is None:
                raise ExtensionUnavailable(
                    f"DuckDB {duckdb.__version__} has no sqlite extension installed and none is available offline; "
                    f"pip install 'duckdb=={PINNED}' '{WHEEL}=={PINNED}' (versions must match)"
                )
            # INSTALL from a local file copies it into the extension directory; DuckDB still checks its signature.
            con.execute(f"INSTALL '{_sql_string(bundled)}'")
            path = _installed_path(con) or str(bundled)
        con.execute("LOAD sqlite")
        return path
    except duckdb.Error as exc:
        raise ExtensionUnavailable(f"DuckDB could not load its sqlite extension: {_first_line(exc)}") from exc
    finally:
        if own:
            con.close()


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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
    print(f"DuckDB sqlite extension ready: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
