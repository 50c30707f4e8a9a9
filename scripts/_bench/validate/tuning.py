"""The connection settings validate_benchmark's queries run under, on every connection it opens."""

from __future__ import annotations

from _bench.reader import Benchmark

SQLITE_CACHE_KB = 65536


def tune(bench: Benchmark) -> None:
    """SQLite: a 64 MB page cache, which also holds the distinct-input b-trees (9 % faster at 10 M rows than
    the 2 MB default; a cap, so memory stays bounded). DuckDB: bounded memory, spilling into a private folder
    that goes when the benchmark closes (Benchmark.bound_memory); rows in any order (nothing validate reads
    depends on it)."""
    if bench.engine == "sqlite":
        bench.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
        return
    bench.bound_memory()
    bench.execute("SET preserve_insertion_order = false")
