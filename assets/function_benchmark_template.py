"""Benchmark Python functions on a labelled dataset: how often each is right, how fast, against a latency objective.

Edit the EDIT block below (the candidates, the data, how an answer is scored, repeats, the objective), then run:
    python function_benchmark_template.py                      # the demo: three ways to read an integer
    python function_benchmark_template.py --limit 20 --experiment-version dev   # smoke run on 20 inputs
    python function_benchmark_template.py --loop 20            # each candidate in a bare loop: which timing is yours
    python function_benchmark_template.py --wrong              # each candidate's wrong answers, as CSV
Writes --db, table `calls`: one row per (candidate, input, repeat) with input_text, output, expected_output, correct
(from score(); a raise is wrong unless score() says otherwise), raised (not a failed run), error_type, latency_us (timed with
perf_counter_ns around the call alone). Inputs run in file order; per input, candidates interleave, so drift hits them alike. Each
call is cached with its result and its time (--cache-dir): a re-run computes nothing; re-timing needs a fresh
cache. Copy benchkit.py beside it. Exit code: 0 every call ran (raises included), 1 some failed, 2 bad input.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import inspect
import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import benchkit as bk
from xetrack import Tracker


def demo_strip_int(text: str) -> int:
    """Demo candidate: int() after dropping a leading '+' and thousands separators."""
    return int(text.replace(",", "").lstrip("+"))


# ==================================== EDIT: the one block to change =====================================
DATA = None  # None: the built-in demo; else a JSONL file, one object per line, run in file order
FIELDS = {"id": "id", "input": "input", "expected": "expected"}  # the JSONL names of these, e.g. "input": "title"
SEGMENTS = ()  # JSONL fields copied onto each input's rows, e.g. ("kind",): results per value too (--by)
# Your functions: import them here, e.g. `from parsers import parse_strict`, and name them below
CANDIDATES = {  # name: a function taking one input and returning the answer
    "int": int,
    "float_int": lambda text: int(float(text)),
    "strip_int": demo_strip_int,
}
REPEATS = 3  # each (candidate, input) is timed this many times: the `repeat` column
WARMUP_CALLS = 1  # untimed, unlogged calls per candidate before the loop (imports, caches); 0: time the cold start
PRIME = False  # True: an untimed call on the same input right before each timed one (a hot call, as in a tight loop)
SLO = "p95<50us"  # the latency objective export_summary judges (--slo); "" for none
DB, CACHE_DIR, EXPERIMENT_VERSION = "function_bench.db", "function_cache", "e1"  # version: "dev" while developing


def score(answer, expected, raised: Exception | None) -> int:
    """1 when the call was right, else 0. `raised`: what the candidate raised (answer is then None); to make a
    rejection right where the data expects one: `return int(expected == "INVALID") if raised else ...`."""
    return int(raised is None and answer == expected)
# ================================================ END EDIT ===================================================

TABLE = "calls"
# Mixed into the cache key with the candidates' modules, this file's one function and score(), the data and
# PRIME: a change to any of them recomputes everything. Bump it for a change the key cannot see (a library).
TEMPLATE_VERSION = "1"


@dataclass(frozen=True)
class Candidate:
    """What determines an answer: the candidate, and a hash of the code it runs (benchkit.code_of: its source and
    what it uses), so an edited candidate is recomputed and one added later leaves the others' cache keys alone."""
    candidate: str
    code_hash: str = ""


def chosen(only: list[str] | None) -> list[str]:
    """The CANDIDATES --candidates names (all without it), in CANDIDATES' order."""
    return [name for name in CANDIDATES if only is None or name in only]


def candidates(only: list[str] | None = None) -> list[Candidate]:
    return [Candidate(name, bk.fingerprint(bk.code_of(CANDIDATES[name]))) for name in chosen(only)]


def demo_data() -> list[dict]:
    """120 integers written as people write them: '42', ' 7 ', '+3', '1,200', '3.0', '4e+02', '0x1f', '12abc'."""
    rows = []
    for i in range(120):
        value = (i * 37) % 2000 - 300
        form = i % 8
        text = [str(value), f" {value} ", f"+{value}" if value >= 0 else str(value), f"{value:,}", f"{value}.0",
                f"{value:.0e}" if value else "0", hex(value) if value >= 0 else str(value), f"{value}abc"][form]
        expected = int(float(text)) if form == 5 else value  # '4e+02' means 400, whatever value was
        rows.append({"id": f"n{i:03d}", "input": text, "expected": expected})
    return rows


def load_data(path: Path | None) -> list[dict]:
    """The rows as {"id", "input", "expected"}, read through FIELDS."""
    if path is None:
        return demo_data()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if not set(FIELDS.values()) | set(SEGMENTS) <= set(row):
            raise ValueError(f"{path}: every line needs {', '.join([*FIELDS.values(), *SEGMENTS])} (FIELDS"
                             f"{' and SEGMENTS' if SEGMENTS else ''} in the EDIT block); "
                             f"got {sorted(row)}")
    return [{**{f: row.get(f) for f in SEGMENTS}, **{ours: row[theirs] for ours, theirs in FIELDS.items()}}
            for row in rows]


ITEMS: dict[str, dict] = {}


# ==================================== the one function ====================================
def call_one(cfg: Candidate, input_id: str, repeat: int) -> dict:
    """One candidate on one input, timed once around the call alone. A raise is the candidate's answer (scored
    by score()), not a failure of the benchmark: it is logged and cached like any answer."""
    item, function = ITEMS[input_id], CANDIDATES[cfg.candidate]
    answer, raised = None, None
    if PRIME:  # caches and branch predictors warm for this input; what runs between calls otherwise cools them
        with contextlib.suppress(Exception):
            function(item["input"])
    start = time.perf_counter_ns()
    try:
        answer = function(item["input"])
    except Exception as exc:  # noqa: BLE001 - whatever the candidate raises is its answer
        raised = exc
    latency_ns = time.perf_counter_ns() - start
    expected = item["expected"]
    # `correct` is what the scripts average (accuracy), so score() decides it, raises included; output and
    # expected_output are kept as text for reading, not compared by the scripts (a raise reads '<ValueError>')
    return {"input_id": input_id, "repeat": repeat, **{f: item.get(f) for f in SEGMENTS},
            "input_text": cut(str(item["input"])),  # trial F: a wrong answer is read beside its input
            "output": f"<{type(raised).__name__}>" if raised is not None else cut(str(answer)),
            "expected_output": cut(str(expected)),
            "correct": score(answer, expected, raised), "raised": int(raised is not None),
            "error_type": "" if raised is None else type(raised).__name__, "latency_us": latency_ns / 1000.0}


def loop_timing(rows: list[dict], passes: int, only: list[str] | None, warmup: int) -> int:
    """--loop N: each candidate called back to back over the inputs, N passes, nothing else in between (no row
    written, no cache, no PRIME), after the same --warmup calls as a run, untracked: its percentiles against the
    tracked run's show which calling mode your objective is about (trials P and R timed such a loop by hand;
    references/templates.md, "Timing")."""
    print(f"{'candidate':<16} {'calls':>7} {'p50 us':>9} {'p95 us':>9} {'p99 us':>9}   (a bare loop, untracked)")
    for name in chosen(only):  # untracked: no code hash needed
        function, times = CANDIDATES[name], []
        warm_up(rows, warmup, [name])
        for _ in range(passes):
            for row in rows:
                start = time.perf_counter_ns()
                with contextlib.suppress(Exception):  # a raise is timed like an answer, as in call_one
                    function(row["input"])
                times.append((time.perf_counter_ns() - start) / 1000.0)
        times.sort()
        at = [times[min(len(times) - 1, int(q * len(times)))] for q in (0.5, 0.95, 0.99)]
        print(f"{name:<16} {len(times):>7} " + " ".join(f"{t:>9.2f}" for t in at))
    return 0


OUTPUT_CHARS = 1000  # an answer kept as text for reading, cut beyond this (trial O: 3.4 MB JSON per row)


def cut(text: str, keep: int = OUTPUT_CHARS) -> str:
    return text if len(text) <= keep else f"{text[:keep]}...[cut: {len(text):,} chars]"


def check(rows: list[dict], n: int, only: list[str] | None) -> int:
    """--check N: the one function on N inputs (the first, the last and evenly between), for every candidate
    (or --candidates), untracked and uncached (the test a single execution must pass before any benchmark run)."""
    picked = [rows[round(k * (len(rows) - 1) / max(n - 1, 1))] for k in range(min(n, len(rows)))]
    ITEMS.update({str(row["id"]): row for row in picked})
    for name in chosen(only):
        for row in picked:
            result = call_one(Candidate(name), str(row["id"]), 0)  # untracked: no code hash needed
            shown = [cut(repr(v), 40) for v in (row["input"], result["output"], result["expected_output"])]
            print(f"{name:<16} {shown[0]:<28} -> {shown[1]:<20} expected {shown[2]:<20} "
                  f"correct={result['correct']} {result['latency_us']:.1f} us")
    return 0


def warm_up(rows: list[dict], calls: int, only: list[str] | None) -> None:
    for name in chosen(only):
        for row in rows[:calls]:
            with contextlib.suppress(Exception):  # a warm-up call's answer is not used
                CANDIDATES[name](row["input"])


def run(db: Path, cache: Path, data: Path | None, repeats: int, limit: int | None, experiment_version: str,
        warmup: int, rerun_args: list[str], add_to_version: bool = False, quiet: bool = False,
        only: list[str] | None = None) -> int:
    """`rerun_args`: this run's options other than --db, for the printed cache proof; `quiet`: no next steps (a
    run those steps start: trial P's script printed a nested "Next:" block per run, and wrote a script each);
    `only`: these candidates alone (--candidates), None for all."""
    every = load_data(data)
    rows = every[:limit]
    segments = list(bk.field_columns(SEGMENTS, TABLE).values())  # as xetrack stores them; some it cannot
    ITEMS.update({str(row["id"]): row for row in every})
    # The fingerprint covers the whole file, so a --limit smoke run and the full run share rows (trial E).
    data_fp = data_fingerprint(every)
    # Each candidate's own code is in its configuration (code_hash); what every call shares is here.
    salt = bk.fingerprint(TEMPLATE_VERSION, data_fp, inspect.getsource(call_one), inspect.getsource(score), PRIME)
    version = bk.provenance(data_fingerprint=data_fp, root=Path.cwd(), experiment_version=experiment_version,
                            cache_version=bk.cache_version(salt))
    done = bk.completed(db, TABLE, ["config_id", "data_fingerprint", "experiment_version", "input_id", "repeat"])
    units = [(c, str(r["id"]), k) for r in rows for k in range(repeats) for c in candidates(only)]  # interleaved
    todo = [(c, i, k) for c, i, k in units if (bk.config_id(c), data_fp, experiment_version, i, k) not in done]
    print(f"{len(units)} calls (candidate x input x repeat): {len(units) - len(todo)} already in {db}, "
          f"{len(todo)} to run", file=sys.stderr)
    drift = bk.version_drift(db, TABLE, version) if todo else None
    if drift and not add_to_version:  # before any row: new rows would be another version, never compared (trial E)
        raise ValueError(drift)
    tracker = Tracker(str(db), table=TABLE, cache=str(cache), params=version)
    if todo and warmup:
        warm_up(rows, warmup, only)
    failures, replayed = [], 0
    for config, input_id, repeat in bk.progress(todo, label="calls"):
        try:
            bk.track_cached(tracker, call_one, config, cache_salt=salt, input_id=input_id, repeat=repeat)
        except Exception as exc:  # the benchmark's own failure (xetrack logged an error row): retried next run
            failures.append(f"{config.candidate} {input_id} repeat {repeat}: {exc}")
            continue
        replayed += bool(tracker.latest["cache"])  # '' = computed now, else the run that computed it
    if todo:  # the cache proof at a glance (analyze_cache_hits.py gives it per run and candidate)
        print(f"{len(todo) - replayed - len(failures)} calls computed, {replayed} replayed from the cache"
              f"{f', {len(failures)} failed' if failures else ''}", file=sys.stderr)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    summarise(db, data_fp, experiment_version)
    only = f"experiment_version={experiment_version}"
    # --latency-of-replays: a candidate replayed into a new version keeps its first run's time (trial F: without
    # it the candidates run before read latency '-' and objective 'undecided' beside the one added later)
    rows_of = ["--config-cols", "candidate", "--version", experiment_version, "--latency-of-replays"]
    compare = [*rows_of, "--pairs", "all"]
    replay = db.with_name(f"{db.stem}_replay.db")
    stem = bk.tables_stem(db, experiment_version)
    export = functools.partial(bk.script_command, "export_summary.py", db, TABLE, *compare,
                               *(("--slo", SLO) if SLO else ()))
    into = functools.partial(bk.into_csv, stem)  # trial L wanted every table as a CSV file
    later = bk.added_later(db, TABLE, ["candidate"], "correct", experiment_version=experiment_version)
    steps = [
        ("can the rows be trusted? (duplicates, coverage, failures, versions)",
         bk.script_command("validate_benchmark.py", db, TABLE, "--filter", only)),
        ("every pair of candidates: accuracy with intervals and verdicts; latency p50/p95/p99"
         + (f"; the objective {SLO} per candidate" if SLO else ""),
         bk.script_command("export_summary.py", db, TABLE, *compare, *(("--slo", SLO) if SLO else ()))),
        # trials K and L: the question a candidate added later asks, a family of one, built by hand
        *bk.planned_steps(later, "accuracy", functools.partial(
            bk.script_command, "export_summary.py", db, TABLE, *rows_of, *(("--slo", SLO) if SLO else ())), into),
        # trial E: a segment is a property of the input, not a setting: the whole comparison per value (--by);
        # trial F: one command per field (`--by a,b` crosses them)
        *((f"the same per {name}: every candidate and pair within each value, and which leads each",
           bk.script_command("export_summary.py", db, TABLE, *compare, "--by", name)) for name in segments),
        ("how often each raised, with intervals and every pair",
         bk.script_command("export_summary.py", db, TABLE, *compare, "--metric", "raised:lower")),
        ("the same as tables: one row per candidate, one row per pair, per value of each segment, and every wrong "
         "answer beside its input",
         export("--csv", "--wide") + into("results")),
        ("", export("--csv", "--comparisons") + into("pairs")),
        *(step for name in segments for step in (("", export("--by", name, "--csv", "--wide") + into(f"by_{name}")),
                                                 ("", export("--by", name, "--csv", "--comparisons")
                                                  + into(f"by_{name}_pairs")))),  # trial P: every pair per value
        # trial R: which inputs each candidate gets wrong, and what it answered, to say why
        ("", " ".join(bk.shell_word(a) for a in ["python", Path(sys.argv[0]).name, *rerun_args, "--db", db, "--wrong"])
         + into("wrong")),
        ("the cache proof: the same command into a new database replays every call and computes none ...",
         " ".join(bk.shell_word(a) for a in ["python", Path(sys.argv[0]).name, *rerun_args, "--db", replay,
                                              "--no-next"])),
        ("... and the cache's own account of both runs",
         bk.script_command("analyze_cache_hits.py", db, replay, TABLE)),
        *(repeat_steps(db, rerun_args, experiment_version, into, [a.values["candidate"] for a in later])
          if SLO else []),
    ]
    if not quiet:
        bk.print_steps(steps, stem)
    return 1 if failures else 0


def repeat_steps(db: Path, rerun_args: list[str], experiment_version: str, into,
                 added: list[str]) -> list[tuple[str, str]]:
    """Trial L: "repeat the whole run and report agreement" had no command. Three runs, each into a database and
    cache of its own and of this version (nothing replayed, every candidate timed anew; trial P: files shared with
    an earlier version replayed the candidates run before, which then read 'no calls'), then one table with each
    run's verdict per candidate: a run is its track_id. The runs print no next steps of their own (--no-next).
    In a version that `added` candidates, the runs time those alone (trial Q: the user had asked not to re-run
    the others, which were repeated in their own version)."""
    args = list(rerun_args)
    for option in ("--cache-dir", "--candidates") if added else ("--cache-dir",):  # else this run's --candidates
        if option in args:
            del args[args.index(option):args.index(option) + 2]
    args += ["--candidates", ",".join(added)] if added else []
    stem = bk.tables_stem(db, experiment_version)
    runs = [db.with_name(f"{stem}_run{k}.db") for k in (1, 2, 3)]
    again = [" ".join(bk.shell_word(a) for a in ["python", Path(sys.argv[0]).name, *args, "--db", run,
                                                  "--cache-dir", run.with_name(f"{run.stem}_cache"), "--no-next"])
             for run in runs]
    verdicts = functools.partial(bk.script_command, "export_summary.py", *runs, TABLE, "--config-cols",
                                 "candidate,track_id", "--version", experiment_version, "--within", "candidate", "--slo",
                                 SLO, "--pairs", "none")  # trial R: accuracy pairs of re-timed runs buried the verdicts
    what = (f"{', '.join(added)} (added in this version) alone: not interleaved with the others as in the run above, "
            "so its surroundings differ (trial T); the others' repeats are their own version's, and without "
            "--candidates every candidate is timed again") if added else "the whole run"
    return [(f"is the objective's verdict the same in other runs? {what}, three times, each timed anew ...",
             again[0]), ("", again[1]), ("", again[2]),
            ("... then each run's verdict per candidate, one row per (candidate, run), and how many runs agree",
             verdicts()), ("", verdicts("--csv", "--wide") + into("repeat_runs"))]


def data_fingerprint(every: list[dict]) -> str:
    return bk.fingerprint([(r["id"], r["input"], r["expected"]) for r in every])


def wrong_answers(db: Path, data: Path | None, experiment_version: str) -> int:
    """--wrong: each candidate's wrong answers in this version and data as CSV, one row per (candidate, input,
    answer), beside the input, the expected answer and the segment fields (trial R queried them by hand to say
    why a candidate fails). Read-only; repeats of one answer are one row."""
    if not db.is_file():
        raise ValueError(f"--db {db}: no such file (run the benchmark first)")
    segments = ", ".join(bk.quote_ident(c) for c in bk.field_columns(SEGMENTS, TABLE).values())
    con = bk.connect_readonly(db)
    try:
        cur = con.execute(f"SELECT DISTINCT candidate, input_id, {segments + ', ' if segments else ''}input_text, "
                          f"output, expected_output, error_type FROM {TABLE} WHERE (error IS NULL OR error = '') "
                          "AND correct < 1 AND data_fingerprint = ? AND experiment_version = ? "
                          "ORDER BY candidate, input_id", [data_fingerprint(load_data(data)), experiment_version])
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([d[0] for d in cur.description])
        writer.writerows(cur)
    except sqlite3.Error as exc:
        raise ValueError(f"--db {db}: {exc}") from exc
    finally:
        con.close()
    return 0


def summarise(db: Path, data_fp: str, experiment_version: str) -> None:
    """A quick look at this data and version: descriptive only (export_summary gives intervals and verdicts)."""
    con = bk.connect_readonly(db)
    try:
        found = con.execute(f"SELECT candidate, AVG(correct), AVG(raised), COUNT(*) FROM {TABLE} WHERE error = '' "
                            "AND data_fingerprint = ? AND experiment_version = ? GROUP BY candidate",
                            [data_fp, experiment_version]).fetchall()
        times = {name: sorted(t for (t,) in con.execute(
            f"SELECT latency_us FROM {TABLE} WHERE error = '' AND candidate = ? AND data_fingerprint = ? AND "
            "experiment_version = ?", [name, data_fp, experiment_version])) for name, *_ in found}
    finally:
        con.close()
    print(f"{'candidate':<16} {'calls':>6} {'right':>7} {'raised':>7} {'p50 us':>9} {'p95 us':>9}")
    for name, right, raised, calls in found:
        t = times[name]
        print(f"{name:<16} {calls:>6} {right:>7.1%} {raised:>7.1%} {t[len(t) // 2]:>9.2f} "
              f"{t[min(len(t) - 1, int(0.95 * len(t)))]:>9.2f}")
    print(f"\nDatabase: {db.resolve()} (table {TABLE}: one row per candidate x input x repeat)")


def main(argv: list[str] | None = None) -> int:
    parser = bk.ArgumentParser(description=__doc__.split("\n\n")[0])
    bk.add_common_options(parser, db=DB, cache_dir=CACHE_DIR, experiment_version=EXPERIMENT_VERSION,
                          limit_help="only the first N inputs of the data (a smoke run)")
    parser.add_argument("--data", type=Path, default=DATA, metavar="FILE.jsonl",
                        help="JSONL, one {id, input, expected} per line (default: the EDIT block's DATA; the demo)")
    parser.add_argument("--repeats", type=int, default=REPEATS, metavar="N", help=f"timed calls per candidate and "
                        f"input (default: {REPEATS})")
    parser.add_argument("--warmup", type=int, default=WARMUP_CALLS, metavar="N",
                        help=f"untimed calls per candidate before the loop (default: {WARMUP_CALLS})")
    parser.add_argument("--check", type=int, nargs="?", const=3, default=None, metavar="N",
                        help="run the one function on N inputs (default 3: the first, a middle and the last) for "
                             "every candidate, untracked, print each answer and stop")
    parser.add_argument("--wrong", action="store_true",
                        help="print each candidate's wrong answers in this --experiment-version as CSV (input, "
                             "answer, expected, segments) and stop; read-only")
    parser.add_argument("--loop", type=int, default=None, metavar="N",
                        help="time every candidate in a bare loop over the inputs, N passes, untracked, print "
                             "p50/p95/p99 and stop (which calling mode is yours: references/templates.md)")
    parser.add_argument("--candidates", type=lambda text: [n.strip() for n in text.split(",") if n.strip()],
                        default=None, metavar="NAME[,NAME...]",
                        help="time only these CANDIDATES (default: all; a version that added one prints its "
                             "repeat runs with it)")
    parser.add_argument("--no-next", action="store_true",
                        help="print no next steps and write no script of them (the runs those steps start)")
    args = parser.parse_args(argv)
    bk.check_common_options(parser, args)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be at least 1 and --warmup at least 0")
    unknown = [name for name in args.candidates or () if name not in CANDIDATES]
    if args.candidates is not None and (unknown or not args.candidates):
        parser.error(f"--candidates: {'not in CANDIDATES: ' + ', '.join(unknown) if unknown else 'no name given'} "
                     f"(CANDIDATES: {', '.join(CANDIDATES)})")
    if args.data is not None and not args.data.is_file():
        parser.error(f"--data {args.data}: no such file")
    rerun = [*(("--data", args.data) if args.data else ()), *(("--limit", args.limit) if args.limit else ()),
             "--repeats", args.repeats, "--experiment-version", args.experiment_version,
             *(("--cache-dir", args.cache_dir) if args.cache_dir else ()),
             *(("--candidates", ",".join(args.candidates)) if args.candidates else ()),
             *(("--add-to-version",) if args.add_to_version else ())]
    try:
        if args.check is not None:
            if args.check < 1:
                parser.error("--check N must be at least 1")
            return check(load_data(args.data), args.check, args.candidates)
        if args.wrong:
            return wrong_answers(args.db, args.data, args.experiment_version)
        if args.loop is not None:
            if args.loop < 1:
                parser.error("--loop N must be at least 1")
            return loop_timing(load_data(args.data)[:args.limit], args.loop, args.candidates, args.warmup)
        return run(args.db, args.cache_dir or Path(CACHE_DIR), args.data, args.repeats, args.limit,
                   args.experiment_version, args.warmup, [str(a) for a in rerun], args.add_to_version, args.no_next,
                   args.candidates)
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
