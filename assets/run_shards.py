#!/usr/bin/env python
"""Run a template's N shards on a Dask cluster, gather the shard databases here, print how to analyse them.

    python run_shards.py 4 -- python sklearn_benchmark_template.py --limit 150
    python run_shards.py 8 --scheduler tcp://10.0.0.5:8786 -- python llm_finetuning_template.py --base-url ...
Without --scheduler it starts a LocalCluster of --workers processes on this machine. One task per shard runs
the command on a worker with `--shard K/N --db <file> --cache-dir <folder>` appended, both in --local-dir:
SQLite (database and cache) is written on the worker's own disk (over a network filesystem its locking is
unsafe); the shards on one machine share the cache. The finished file comes back to --out as bytes. A worker
killed mid-shard: Dask runs the task again; on the same machine the template resumes from the partial file (it
skips completed units), elsewhere from the copy an earlier run gathered, if any, else from the start.
Running this again resumes each shard from its file on the machine it lands on, or, on a machine without one
(Dask placed shard K elsewhere), from the copy gathered into --out last time, sent to that worker: a re-run
computes only what the gathered files lack, wherever the shards land (the cache is worker-local: units not yet
in the file are computed afresh on a new machine).
Workers need one environment: the same Python packages and the command's files at the same paths;
`python` as the first word means the worker's own interpreter. Needs dask[distributed] and benchkit.py.
Exit code: 0 every shard finished cleanly; 1 a shard failed (files gathered so far are kept); 2 bad input.
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchkit as bk

PROG = "run_shards.py"
NEXT = "\nNext:\n"  # where a template's printed next commands begin (benchkit.next_steps)


# ---- on the worker ------------------------------------------------------------------------------------------
def run_shard(command: list[str], shard: str, local_db: str, local_cache: str, cwd: str, run: str,
              gathered: bool = False, seed: bytes | None = None) -> dict:
    """Run one shard into a database on the worker's disk; return its bytes, exit code, where it ran and which
    attempt of this run (`run`: one per run_shards.py invocation) it was on that machine.

    A machine without the shard's file (Dask placed it elsewhere than last time, a new worker) resumes from
    the copy gathered last time: with `gathered` (the client has one) and no `seed`, this returns at once
    asking for it (`needs_seed`), and the client submits again with the bytes, which become the local file.
    So a re-run computes only what the gathered files lack, wherever its shards land; the bytes travel only
    when a machine lacks the file.

    Only the standard library here: the function travels to workers that may not have benchkit on their path.
    A lock beside the database, held by the template process itself (an inherited descriptor), keeps a
    second attempt from writing while the first is still alive; on Linux the template also dies with the
    worker that started it, so a retry does not wait for an orphan.
    """
    db = Path(local_db)
    db.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable if command[0] == "python" else command[0], *command[1:], "--shard", shard, "--db", str(db),
            "--cache-dir", local_cache]
    start = time.perf_counter()
    with open(f"{db}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        seeded = False
        if not db.exists() and gathered:
            if seed is None:
                return {"shard": shard, "needs_seed": True, "host": platform.node()}
            partial = db.with_name(db.name + ".part")
            partial.write_bytes(seed)
            os.replace(partial, db)  # never half a file under the template's name
            seeded = True
        attempt = _count_attempt(Path(f"{db}.attempts"), run)
        proc = subprocess.run(argv, cwd=cwd if Path(cwd).is_dir() else None, capture_output=True, text=True,
                              pass_fds=(lock.fileno(),), preexec_fn=_die_with_parent)
    return {"shard": shard, "returncode": proc.returncode, "host": platform.node(), "attempt": attempt,
            "seconds": time.perf_counter() - start, "stdout": proc.stdout[-20000:], "stderr": proc.stderr[-20000:],
            "db": db.read_bytes() if db.is_file() else b"", "seeded": seeded}


def _count_attempt(path: Path, run: str) -> int:
    """1 for this run's first attempt at the shard on this machine, 2 after Dask re-ran it (a lost worker), ..."""
    before, _, count = path.read_text().partition(" ") if path.is_file() else ("", "", "0")
    attempt = int(count) + 1 if before == run and count.isdigit() else 1
    path.write_text(f"{run} {attempt}")
    return attempt


def _die_with_parent() -> None:
    """In the template's process, before it starts: SIGKILL it when the worker that started it dies (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


# ---- on the client ------------------------------------------------------------------------------------------
def connect(scheduler: str | None, workers: int):
    """(a dask Client, the LocalCluster it owns or None, seconds it took): the given scheduler or a new one."""
    from dask.distributed import Client, LocalCluster

    start = time.perf_counter()
    if scheduler:
        return Client(scheduler, timeout="20s"), None, time.perf_counter() - start
    # silence_logs: a failed shard is reported once, by this script, not also as the workers' log lines
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.CRITICAL)
    return Client(cluster), cluster, time.perf_counter() - start


def gather(futures, out: Path, name: str, submitted: float, resubmit=None) -> list[dict]:
    """Write each finished shard's database into `out` as it arrives; the results without their bytes, each
    with `elapsed`: seconds from submission to its return (earlier attempts and waiting for a worker included).
    A shard that landed on a machine without its file asks for the gathered copy: `resubmit(shard)` sends it."""
    from dask.distributed import as_completed

    results = []
    pending = as_completed(futures)
    for future in pending:
        shard = futures[future]
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a worker lost too often, a missing command: report, go on
            result = {"shard": shard, "returncode": None, "host": "?", "seconds": 0.0, "db": b"", "stdout": "",
                      "stderr": f"{type(exc).__name__}: {exc}", "attempt": None}
        if result.get("needs_seed") and resubmit is not None:
            again = resubmit(shard)
            futures[again] = shard
            pending.add(again)
            continue
        result["elapsed"] = time.perf_counter() - submitted
        data = result.pop("db")
        if data:
            target = bk.shard_path(out / name, bk.parse_shard(shard))
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(data)
            os.replace(partial, target)  # a reader never sees half a file
            result["file"] = target
        report(result)
        results.append(result)
    return results


def report(result: dict) -> None:
    """One shard's outcome and the template's own output (what it ran, its table), on stderr; its
    "Next:" block is left out: those commands name the worker-local file (next_steps() below rewrites them)."""
    ok = result["returncode"] == 0
    where = f"on {result['host']} in {result['seconds']:.1f} s"
    if (result.get("attempt") or 1) > 1:  # the time above is the last attempt's: say what the others cost
        where += (f" (attempt {result['attempt']} on {result['host']}; {result['elapsed']:.1f} s since it was "
                  "submitted, earlier attempts included)")
    elif result["elapsed"] - result["seconds"] > 1:
        where += f" ({result['elapsed']:.1f} s since it was submitted: it waited for a free worker)"
    if result.get("seeded"):  # this machine had no file of the shard: it resumed from the gathered copy
        where += f", resumed from the copy gathered last time ({result['host']} had no file of this shard)"
    print(f"shard {result['shard']}: {'done' if ok else 'FAILED'} {where} -> {result.get('file', 'no database')}",
          file=sys.stderr)
    own, _, _ = result["stdout"].partition(NEXT)
    for line in (result["stderr"] + own).strip("\n").splitlines():  # its progress and notes, then its report
        print(f"  | {line}", file=sys.stderr)
    if not ok:
        last = (result["stderr"].strip().splitlines() or ["no output"])[-1]
        how = "not run" if result["returncode"] is None else f"exit {result['returncode']}"
        print(f"  {how}: {last}", file=sys.stderr)


def timing(results: list[dict], workers: int, wall: float) -> str:
    """One line for the whole run: wall time, each shard's time since submission, retries, and a shard count
    that leaves workers idle in the last round (3 shards on 2 workers: one runs two in a row)."""
    shards = sorted(results, key=lambda r: bk.parse_shard(r["shard"]).k)
    each = ", ".join(f"{r['shard']} {r['elapsed']:.1f} s" + (f" ({r['attempt']} attempts)"
                                                            if (r.get("attempt") or 1) > 1 else "") for r in shards)
    line = f"{len(shards)} shards on {workers} workers: {wall:.1f} s in all; since submission: {each}"
    if workers > 1 and len(shards) > 1 and len(shards) % workers:
        line += (f". In the last round some workers had no shard: a multiple of {workers} shards (or many small "
                 "ones) keeps every worker busy to the end")
    return line


def build_parser() -> bk.ArgumentParser:
    parser = bk.ArgumentParser(prog=PROG, description=__doc__, usage=f"{PROG} [options] N -- COMMAND ...")
    parser.add_argument("shards", type=int, metavar="N", help="how many shards (Dask tasks) to split the work into; "
                        "COMMAND (after --) is the template's command line, without --shard, --db and --cache-dir")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786 "
                        "(default: start a LocalCluster on this machine)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default: 2)")
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                        help="where the gathered shard files go (default: the current folder)")
    parser.add_argument("--db", metavar="NAME.db", help="the benchmark's file name; shard K of N is written as "
                        "NAME.shard-K-of-N.db (default: the file name of the template's DB setting, else its "
                        "name without _template, e.g. sklearn_benchmark.db)")
    parser.add_argument("--local-dir", metavar="DIR",
                        help="the folder on each worker's own disk for shard databases and caches (default: "
                             f"{os.path.join(tempfile.gettempdir(), 'xetrack-shards', '<hash of folder and command>')}"
                             ": the same command from the same folder resumes, another one starts afresh)")
    parser.add_argument("--cache-of", metavar="NAME.db", help="share the cache of the run whose --db was NAME.db "
                        "(default: this run's own, named after --db). With a new --db, every unit is replayed from "
                        "that cache into new files: the cache proof, `analyze_cache_hits.py OLD... NEW... TABLE`")
    parser.add_argument("--table", default="predictions", help="the table the printed commands analyse "
                        "(default: %(default)s)")
    parser.add_argument("--metric", action="append", metavar="COL:higher|lower",
                        help="the metric the printed export_summary command compares, for a command that prints no "
                             "next commands of its own (repeatable; the templates print theirs)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # Everything after the first -- is the template's: its options must not be read as this script's.
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.command = argv[cut + 1:]
    if not args.command:
        parser.error("no command: give the template's command line after --")
    if args.shards < 1 or args.workers < 1:
        parser.error("N and --workers must be at least 1")
    if {"--shard", "--db", "--cache-dir"} & {word.split("=")[0] for word in args.command}:
        parser.error("the command must not set --shard, --db or --cache-dir: run_shards.py sets them per shard")
    script = next((Path(w) for w in args.command if w.endswith(".py")), Path("benchmark.py"))
    args.db = args.db or template_db(script) or script.stem.removesuffix("_template") + ".db"
    for option, name in (("--db", args.db), ("--cache-of", args.cache_of)):
        if name is not None and (Path(name).name != name or not name.endswith(".db")):
            parser.error(f"{option} must be a file name ending in .db, got {name!r}")
    for spec in args.metric or []:
        if not spec.partition(":")[0] or spec.partition(":")[2] not in ("", "higher", "lower"):
            parser.error(f"--metric must be COL, COL:higher or COL:lower, got {spec!r}")
    # a path the workers can use as it is: absolute, and the same command always finds its own shards again
    args.local_dir = os.path.abspath(args.local_dir or os.path.join(
        tempfile.gettempdir(), "xetrack-shards", bk.fingerprint(os.getcwd(), args.command)))
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is not a folder")
    return args


def template_db(script: Path) -> str | None:
    """The file name of the template's `DB = "..."` setting (its EDIT block), read without running it."""
    try:
        tree = ast.parse(script.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        # `DB = "x.db"`, or `DB, CACHE_DIR, ... = "x.db", ...` (the LLM and function templates)
        pairs = zip(target.elts, value.elts, strict=False) if isinstance(target, ast.Tuple) and isinstance(
            value, ast.Tuple) else [(target, value)]
        for name, setting in pairs:
            if getattr(name, "id", None) == "DB" and isinstance(setting, ast.Constant) \
                    and isinstance(setting.value, str):
                return Path(setting.value).name
    return None


def next_steps(results: list[dict], local: Path, out: Path, name: str, n: int, table: str,
               metrics: list[str] | None = None) -> str:
    """The template's own next commands, pointed at the gathered files instead of a worker's: every shard
    printed the same block for its worker-local pattern (benchkit.shard_files), so one is rewritten. A command
    that prints none (or another pattern) gets validate and export_summary on `table`, comparing `metrics`
    (without one, export_summary finds accuracy from prediction and ground_truth, or compares nothing)."""
    first = bk.Shard(1, n)
    there, here = (bk.shard_files(bk.shard_path(folder / name, first), first) for folder in (local, out))
    for result in results:
        _, found, block = result["stdout"].partition(NEXT)
        if found and bk.shell_word(there) in block:
            block = block.replace(bk.shell_word(there), bk.shell_word(here))
            # a results file named without a folder goes beside the gathered files, not into the current one
            block = re.sub(r"(--save )([^\s/]+\.db)\b", lambda m: m[1] + bk.shell_word(out / m[2]), block)
            return "Next:\n" + block.rstrip("\n")
    return bk.next_steps([
        ("the shards as one benchmark: duplicates, coverage, failures, versions",
         bk.script_command("validate_benchmark.py", here, table)),
        ("compare the configurations on the union" + ("" if metrics else ": name the metric with --metric COL:higher "
                                                       "(or :lower) unless rows have prediction and ground_truth"),
         bk.script_command("export_summary.py", here, table, *[w for m in metrics or [] for w in ("--metric", m)],
                           "--pairs", "all")),
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        client, cluster, seconds = connect(args.scheduler, args.workers)
    except ImportError:
        return fail('needs Dask: pip install "dask[distributed]"')
    except (OSError, TimeoutError) as exc:
        return fail(f"cannot reach the scheduler {args.scheduler}: {exc}")
    what = f"scheduler {args.scheduler}" if args.scheduler else f"LocalCluster of {args.workers} workers"
    print(f"{what}: ready in {seconds:.1f} s; {args.shards} shards of: {' '.join(args.command)}", file=sys.stderr)
    print(f"on each worker's disk (shard databases, cache): {args.local_dir}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        shards = [bk.Shard(k, args.shards) for k in range(1, args.shards + 1)]
        # pure=False: a re-run must run the shard again (to resume it), not return a remembered result
        local = Path(args.local_dir)
        cache = str(local / f"{Path(args.cache_of or args.db).stem}_cache")
        workers = len(client.scheduler_info()["workers"])
        run = f"{platform.node()}-{os.getpid()}-{time.time_ns()}"  # tells a Dask retry from a later re-run
        submitted = time.perf_counter()
        def submit(s: bk.Shard, seed: bytes | None = None):
            gathered = bk.shard_path(args.out / args.db, s)
            return client.submit(run_shard, args.command, str(s), str(bk.shard_path(local / args.db, s)), cache,
                                 os.getcwd(), run, gathered.is_file(), seed, pure=False)

        def with_seed(shard: str):  # the gathered copy, for a machine without the shard's file
            s = bk.parse_shard(shard)
            return submit(s, bk.shard_path(args.out / args.db, s).read_bytes())

        futures = {submit(s): str(s) for s in shards}
        results = gather(futures, args.out, args.db, submitted, with_seed)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(timing(results, workers, time.perf_counter() - submitted), file=sys.stderr)
    if not any("file" in r for r in results):
        return 1
    print(next_steps(results, local, args.out, args.db, args.shards, args.table, args.metric))
    return 0 if all(r["returncode"] == 0 for r in results) else 1


def fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
