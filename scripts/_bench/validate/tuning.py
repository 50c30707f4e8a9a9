"""The connection settings validate_benchmark's queries run under, on every connection it opens."""

from __future__ import annotations

import tempfile

from _bench.reader import Benchmark

SQLITE_CACHE_KB = 65536
DUCKDB_MEMORY_LIMIT = "512MB"  # DuckDB otherwise takes up to 80 % of RAM; aggregates spill to disk beyond this


def tune(bench: Benchmark) -> str | None:
    """SQLite: a 64 MB page cache, which also holds the distinct-input b-trees (9 % faster at 10 M rows than
    the 2 MB default; a cap, so memory stays bounded). DuckDB: bound its memory and send its spill files to
    a private temporary folder (returned, for the caller to remove once the connection is closed), never the
    user's working directory."""
    if bench.engine == "sqlite":
        bench.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
        return None
    spill = tempfile.mkdtemp(prefix="validate-duckdb-")
    bench.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    bench.execute(f"SET temp_directory = '{spill.replace(chr(39), chr(39) * 2)}'")
    bench.execute("SET preserve_insertion_order = false")
    return spill
