"""DuckDB's sqlite extension, installed offline from its pip wheel (see scripts/setup_duckdb.py for why).

Used by the reader before DuckDB attaches a SQLite file, and by setup_duckdb.py, its command line.
"""

from __future__ import annotations

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
