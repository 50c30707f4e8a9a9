#!/usr/bin/env python3
"""Many files read as one: the scripts over N shard files against the same rows in one file, same engine.

Splits a generated file (generate.py) into N shard files of the same layout (consecutive rowid ranges, as
workers writing one file each would; xetrack's assets/keys/counts tables are created empty in each), then
times the reference pass and each script on the single file with `--engine duckdb` and on the N shards (more
than 10 files are always read through DuckDB, reader.SQLITE_MAX_FILES), interleaved, as run.py does.

Usage:
  python benchmarks/shards.py                              # 1 M rows (default layout) in 200 shards
  python benchmarks/shards.py --rows 200000 --shards 200 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from generate import SCHEMA
from run import DATA, HERE, ROOT, SCRIPTS, bench_file, measure, median_of


def split(src: Path, folder: Path, shards: int, table: str = "default") -> list[Path]:
    """`shards` files in `folder` holding `src`'s rows in consecutive rowid ranges (reused if present)."""
    paths = [folder / f"shard_{i:04d}.db" for i in range(shards)]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        quoted = table.replace('"', '""')
        create = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
        lo, hi = con.execute(f'SELECT MIN(rowid), MAX(rowid) FROM "{quoted}"').fetchone()
        step = (hi - lo + shards) // shards
        for i, p in enumerate(paths):
            p.unlink(missing_ok=True)
            out = sqlite3.connect(p)
            out.execute("PRAGMA journal_mode=OFF")
            out.executescript(SCHEMA.split('CREATE TABLE "{table}"')[0] + create + ";")
            out.close()
            con.execute("ATTACH ? AS shard", [str(p)])
            con.execute(f'INSERT INTO shard."{quoted}" SELECT * FROM main."{quoted}" WHERE rowid >= ? AND rowid < ?',
                        [lo + i * step, lo + (i + 1) * step])
            con.commit()
            con.execute("DETACH shard")
    finally:
        con.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shards.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    db = bench_file(args.rows)
    shards = split(db, DATA / f"shards_{args.rows}_{args.shards}", args.shards)
    commands = {}
    for where, files in (("1 file", [str(db)]), (f"{args.shards} files", [str(p) for p in shards])):
        commands[(where, "reference")] = [sys.executable, str(HERE / "reference.py"), *files, "--engine", "duckdb"]
        for s in SCRIPTS:
            commands[(where, s)] = [sys.executable, str(ROOT / "scripts" / s), *files, "--engine", "duckdb"]
    for cmd in commands.values():
        measure(cmd)  # warm the page cache
    runs: dict = {k: [] for k in commands}
    for _ in range(args.repeat):
        for k, cmd in commands.items():
            runs[k].append(measure(cmd))
    print(f"| program | 1 file s | {args.shards} files s | x (files / file) | peak RSS MB (1 / {args.shards}) | "
          "exit | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    results = []
    for program in ("reference", *SCRIPTS):
        one, many = median_of(runs[("1 file", program)]), median_of(runs[(f"{args.shards} files", program)])
        row = {"rows": args.rows, "shards": args.shards, "program": program, "one_s": one["wall_s"],
               "many_s": many["wall_s"], "ratio": round(many["wall_s"] / one["wall_s"], 2),
               "one_rss_mb": one["rss_mb"], "many_rss_mb": many["rss_mb"], "exit": (one["exit"], many["exit"]),
               "load_avg": round(os.getloadavg()[0], 1)}
        results.append(row)
        print(f"| {program} | {row['one_s']:.2f} | {row['many_s']:.2f} | {row['ratio']:.2f} | "
              f"{row['one_rss_mb']} / {row['many_rss_mb']} | {one['exit']} / {many['exit']} | {row['load_avg']} |",
              flush=True)
    DATA.mkdir(exist_ok=True)
    (DATA / "shards.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
