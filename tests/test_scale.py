"""Reading many shard files as one: what the reader does per file stays one query for all of them."""

from __future__ import annotations

import sqlite3

from _bench.reader import SQLITE_MAX_FILES, Benchmark


def _shards(folder, n: int, without_assets: set[int]) -> list:
    paths = []
    for i in range(n):
        path = folder / f"w{i}.db"
        con = sqlite3.connect(path)
        con.execute('CREATE TABLE "default" (track_id TEXT, x INTEGER)')
        con.execute('INSERT INTO "default" VALUES (?, ?)', [f"run{i}", i])
        if i not in without_assets:
            con.execute("CREATE TABLE assets (key TEXT PRIMARY KEY, value BLOB)")
            con.execute("INSERT INTO assets VALUES (?, x'00')", [f"k{i}"])
        con.commit()
        con.close()
        paths.append(path)
    return paths


def test_assets_of_many_files_are_found_in_one_query_and_only_where_they_exist(tmp_path):
    paths = _shards(tmp_path, SQLITE_MAX_FILES + 2, without_assets={0, 5})
    with Benchmark(paths) as bench:
        assert bench.engine == "duckdb"  # more files than SQLite attaches: read through DuckDB
        calls = []
        query = bench.query
        bench.query = lambda sql, params=(): calls.append(sql) or query(sql, params)
        relation = bench.assets_relation()
        bench.query = query
        keys = sorted(k for (k,) in bench.query(f"SELECT key FROM {relation} AS a"))
    assert len(calls) == 1
    assert keys == sorted(f"k{i}" for i in range(SQLITE_MAX_FILES + 2) if i not in (0, 5))


def test_assets_of_a_few_files_through_sqlite(tmp_path):
    paths = _shards(tmp_path, 3, without_assets={1})
    with Benchmark(paths) as bench:
        assert bench.engine == "sqlite"
        keys = sorted(k for (k,) in bench.query(f"SELECT key FROM {bench.assets_relation()} AS a"))
    assert keys == ["k0", "k2"]
    with Benchmark(paths[1:2]) as bench:
        assert bench.assets_relation() is None
