#!/usr/bin/env python3
# /// script
# requires-python = ">=3.10,<3.13"
# dependencies = ["duckdb==1.5.5", "duckdb-extension-sqlite-scanner==1.5.5"]
# ///
"""Did caching do its job? Hit rates, time saved, lineage, and why xetrack's cache silently did nothing.

Hit rate overall, per configuration and per run (computed vs replayed calls); the compute time replays
saved; replays whose computing run is gone; and a diagnosis with a fix when caching silently did nothing
(not enabled, unhashable arguments, per-process hashes, cached failures).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict

from _bench.cache_diagnosis import (
    ELSEWHERE,
    FIX_ENABLE,
    FIX_KEYS,
    FIX_SAME_DIR,
    PROCESS_HASH,
    cached_failures,
)
from _bench.cache_profile import Cell, Sources, call_cells, recomputed_calls, sample, sources, time_saved
from _bench.cli import (
    Finding,
    Report,
    base_parser,
    note,
    pick_engine,
    record_engine,
    run,
    split_paths_and_table,
)
from _bench.layout import Layout, infer_layout, short_labels
from _bench.reader import Benchmark, with_engine_fallback

PROG = "analyze_cache_hits.py"
EXAMPLES = """  python scripts/analyze_cache_hits.py bench.db
  python scripts/analyze_cache_hits.py bench.db predictions --json
  python scripts/analyze_cache_hits.py worker*.db scores --fail-on error

what the `cache` column means (xetrack 0.7.0): '' computed, a track_id replayed from that run, NULL no
cache key (unhashable argument, or caching off in that run); no column at all: nothing was ever cacheable.
hit rate = replayed calls / all tracked calls. Time saved = function_time of the row each replay came from,
summed: call time, not wall-clock time (concurrent calls overlap)."""

UNHASHABLE_REPR = re.compile(r"[\[{]|\barray\(|\bset\(|\bDataFrame\b|\bTensor\(")
OBJECT_REPR = re.compile(r"\b[A-Za-z_]\w*\(|\(\s*'|frozenset\(")  # dataclass/object, or a tuple holding a str


def build_parser() -> argparse.ArgumentParser:
    # Default warning: caching that silently did nothing is the failure this script exists to catch.
    return base_parser(PROG, __doc__.strip().splitlines()[0], EXAMPLES, fail_on="warning")


def rate(hits: int, total: int) -> float | None:
    return round(hits / total, 6) if total else None


def tally(cells: list[Cell]) -> dict:
    total = sum(c.rows for c in cells)
    replayed = sum(c.replayed for c in cells)
    return {"calls": total, "computed": sum(c.computed for c in cells), "replayed": replayed,
            "not_cacheable": sum(c.uncached for c in cells), "hit_rate": rate(replayed, total),
            "failed": sum(c.computed_failed + c.replayed_failed for c in cells),
            "compute_seconds": _round(sum(c.compute_time or 0.0 for c in cells)) if any(
                c.compute_time is not None for c in cells) else None}


def _round(x: float | None) -> float | None:
    """Six significant digits: seconds range from microseconds (a trivial call) to days."""
    return None if x is None else float(f"{float(x):.6g}")


def config_display(layout: Layout, config: tuple, parameters: dict) -> dict | None:
    """What names a configuration (None when its row carries none, e.g. a replay of a dataclass argument)."""
    if all(v is None for v in config):
        return None
    if parameters and any(v is not None for v in parameters.values()):
        return parameters
    return dict(zip(layout.config, config, strict=True))


def per_configuration(layout: Layout, cells: list[Cell], saved: dict[tuple, tuple]) -> list[dict]:
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[c.config].append(c)
    ordered = sorted(groups.items(), key=lambda kv: [str(v) for v in kv[0]])
    displays = []
    for config, members in ordered:
        params: dict = {}
        for c in members:
            for k, v in c.parameters.items():
                params[k] = params.get(k) if params.get(k) is not None else v
        displays.append(config_display(layout, config, params))
    names = iter(short_labels([d for d in displays if d is not None]))
    out = []
    for (config, members), shown in zip(ordered, displays, strict=True):
        name = "(all calls)" if not layout.config else "(no configuration)" if shown is None else next(names)
        row = {"configuration": name, **tally(members)}
        _, found, seconds = saved.get(config, (0, 0, None))
        row["time_saved_seconds"] = _round(seconds) if found else None
        out.append(row)
    return out


def per_run(cells: list[Cell]) -> list[dict]:
    groups: dict[str | None, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[c.run].append(c)
    rows = []
    for run_id, members in groups.items():
        sources_of = sorted({c.source for c in members if c.source})
        first = min((c.first_seen for c in members if c.first_seen), default=None)
        rows.append({"run": run_id, "first_seen": first, **tally(members), "replayed_from": sources_of})
    return sorted(rows, key=lambda r: (r["first_seen"] or "", r["run"] or ""))


# --- diagnoses -------------------------------------------------------------------------------------------

def diagnose_no_cache_column(bench: Benchmark, src: Sources) -> list[Finding]:
    L = src.layout
    if not L.function:
        return [Finding("cache-not-tracked", "warning", "No `cache` or `function_name` column: these rows were "
                        "written with log()/log_batch(), and xetrack caches only track() calls.",
                        "Run the expensive call through tracker.track(func, kwargs=...) with "
                        "Tracker(cache=DIR); or, if you cache yourself, record the computing run in a `cache` "
                        "column ('' when computed).")]
    signature = unhashable_examples(bench, src, "1 = 1")
    cause = ("The logged arguments contain lists, dicts, sets or arrays, which xetrack 0.7.0 cannot hash: "
             "unhashable arguments are the likely cause." if signature else
             "Either caching was not enabled (Tracker(cache=...)), or every call had an unhashable argument "
             "(xetrack 0.7.0 then writes no cache column); the data alone cannot tell which.")
    return [Finding("cache-not-enabled", "warning", f"No `cache` column: no tracked call was ever cacheable. {cause}",
                    FIX_ENABLE, signature)]


def unhashable_examples(bench: Benchmark, src: Sources, where: str) -> list[str]:
    """Calls whose logged arguments are lists, dicts, sets or arrays: xetrack 0.7.0 cannot hash them."""
    if not all(c in src.layout.columns for c in ("args", "kwargs")):
        return []
    return [f"args={a} kwargs={k}" for a, k in sample(bench, src, where, ["args", "kwargs"], 20)
            if UNHASHABLE_REPR.search((a or "")[1:-1]) or UNHASHABLE_REPR.search(_kwarg_values(k or ""))][:5]


def _kwarg_values(kwargs: str) -> str:
    return " ".join(part.split(":", 1)[1] for part in kwargs.strip("{}").split(", '") if ":" in part)


def diagnose(bench: Benchmark, src: Sources, cells: list[Cell], runs: list[dict]) -> list[Finding]:
    L = src.layout
    if not L.cache:
        return diagnose_no_cache_column(bench, src)
    findings: list[Finding] = []
    findings += _uncached(bench, src, runs)
    findings += _lineage(cells, runs)
    findings += _cached_failures(bench, src, cells)
    findings += _recomputed(bench, src, cells)
    findings += _key_changed(src, cells)
    lambdas = sum(c.lambda_replays for c in cells)
    if lambdas:
        findings.append(Finding("cache-lambda-key", "warning", f"{lambdas:,} replayed calls are lambdas: every "
                                "lambda of a module shares one cache key in xetrack 0.7.0, so one lambda can "
                                "return another's cached result.", "Track named functions (def), not lambdas."))
    if not findings and not any(c.replayed for c in cells):
        findings.append(Finding("cache-no-hits-yet", "info", "Caching is on, but nothing was replayed yet "
                                f"({len(runs)} run(s), each call computed once).",
                                "Normal for a first run; a second run of the same calls should replay them."))
    return findings


def _uncached(bench: Benchmark, src: Sources, runs: list[dict]) -> list[Finding]:
    uncached = sum(r["not_cacheable"] for r in runs)
    if not uncached:
        return []
    off = [r["run"] for r in runs if r["not_cacheable"] == r["calls"]]
    mixed = [r["run"] for r in runs if 0 < r["not_cacheable"] < r["calls"]]
    signature = unhashable_examples(bench, src, src.uncached)
    parts = []
    if mixed:
        parts.append(f"in {len(mixed)} run(s) some calls had no cache key, which xetrack 0.7.0 does when an "
                     "argument is unhashable (list, dict, set, numpy array, non-frozen dataclass)")
    if off:
        parts.append(f"{len(off)} run(s) cached nothing: caching was off in those runs, or every argument was "
                     "unhashable" + ("" if signature else " (the data cannot tell which)"))
    if signature:
        parts.append("their logged arguments contain lists, dicts, sets or arrays")
    examples = signature or (
        [f"args={a} kwargs={k}" for a, k in sample(bench, src, src.uncached, ["args", "kwargs"])]
        if all(c in src.layout.columns for c in ("args", "kwargs")) else [f"run {r}" for r in off + mixed])
    return [Finding("cache-not-keyed", "warning", f"{uncached:,} tracked calls were never cacheable "
                    f"(cache is NULL): {'; '.join(parts)}.", FIX_KEYS, examples)]


def _lineage(cells: list[Cell], runs: list[dict]) -> list[Finding]:
    present = {r["run"] for r in runs}
    missing: dict[str, int] = defaultdict(int)
    for c in cells:
        if c.source and c.source not in present:
            missing[c.source] += c.replayed
    if not missing:
        return []
    total = sum(missing.values())
    examples = [f"{run_id}: {n:,} replays" for run_id, n in sorted(missing.items(), key=lambda kv: -kv[1])]
    return [Finding("lineage-missing-run", "warning", f"{total:,} replayed calls come from {len(missing)} run(s) "
                    "that are not in the database(s) given: their original computation cannot be checked and "
                    "the time they saved is unknown.",
                    "The computing run was deleted, or wrote to another table or file sharing the cache "
                    "directory: pass every shard, or re-run with a fresh cache (xt cache delete DIR RUN).",
                    examples, len(examples))]


def _cached_failures(bench: Benchmark, src: Sources, cells: list[Cell]) -> list[Finding]:
    if not src.layout.error:
        return [Finding("cached-failures-unknown", "info", "No `error` column: the data cannot tell whether "
                        "failures were cached.", "")]
    return cached_failures(bench, bench.VIEW, src.layout, sum(c.replayed_failed for c in cells),
                           sum(c.returned_failures for c in cells))


def _recomputed(bench: Benchmark, src: Sources, cells: list[Cell]) -> list[Finding]:
    """The same call computed in several runs: the cache missed when it should have hit."""
    runs_per_config: dict[tuple, set] = defaultdict(set)
    for c in cells:
        if c.computed - c.computed_failed > 0:
            runs_per_config[c.config].add(c.run)
    if not any(len(r) > 1 for r in runs_per_config.values()):
        return []  # no configuration was computed by two runs: nothing can have been recomputed
    calls, extra, examples = recomputed_calls(bench, src)
    if not calls:
        return []
    shown = [" ".join(f"{c}={v}" for c, v in zip(src.identity, row[:-1], strict=True)) + f" (computed in {row[-1]} runs)"
             for row in examples]
    objects = src.identity_from == "call" and any(OBJECT_REPR.search(f"{row[1]} {row[2]}") for row in examples)
    if objects:
        why, hint = PROCESS_HASH, FIX_KEYS + " PYTHONHASHSEED=0 in every run is a stopgap."
    else:
        why, hint = ELSEWHERE + "; the data cannot tell which", FIX_SAME_DIR
    return [Finding("cache-missed-across-runs", "warning", f"{calls:,} calls were computed again in a later run "
                    f"({extra:,} extra computations) instead of being replayed: {why}.", hint, shown, calls)]


def _key_changed(src: Sources, cells: list[Cell]) -> list[Finding]:
    """One configuration's parameters under several content keys (config_id), each computed in a run of its own,
    where the later run replayed other configurations from the cache: that one's key changed between the runs.
    cache-missed-across-runs cannot see it (each key was computed once). Trial T: a frozenset constant made a
    candidate's code hash, so its key, new in every process; the cache proof recomputed it, and this script said
    caching worked. An edit of the function between the runs does the same, by design: the message says both."""
    if src.layout.config != ["config_id"]:
        return []
    computing: dict[tuple, dict[tuple, set]] = defaultdict(lambda: defaultdict(set))
    for c in cells:
        if c.computed - c.computed_failed > 0 and c.parameters:
            computing[tuple(sorted(c.parameters.items()))][c.config].add(c.run)
    replaying = {c.run for c in cells if c.replayed}
    changed = [(label, runs) for label, keys in computing.items() if len(keys) > 1
               for runs in [set().union(*keys.values())] if len(runs) > 1 and runs & replaying]
    if not changed:
        return []
    shown = [", ".join(f"{k}={v}" for k, v in label) + f": {len(computing[label])} keys, computed in {len(runs)} runs"
             for label, runs in changed]
    return [Finding("cache-key-changed", "warning", f"{len(changed)} configuration(s) were computed again under a "
                    "new key (config_id) in a run that replayed the others from the cache: their key changed between "
                    "the runs. If their code (and what it reaches) did not change in between, something in the key "
                    "differs in every process, and their cache can never hit.",
                    "Compare the two keys' code_hash (or the configuration's values): an edit explains it; else "
                    "look for a value whose text changes per process, such as a set of strings (its order follows "
                    "the hash seed) or an object's repr with its address, and make it process-stable "
                    "(benchkit.code_of sorts sets from skill 0.6.8).", shown, len(changed))]


# --- report ------------------------------------------------------------------------------------------------

def build_report(bench: Benchmark, layout: Layout) -> Report:
    src = sources(layout)
    cells = call_cells(bench, src)
    runs = per_run(cells)
    source_runs = sorted({c.source for c in cells if c.source} & {r["run"] for r in runs})
    replaying_runs = sorted({c.run for c in cells if c.source in source_runs and c.run is not None})
    saved_rows = time_saved(bench, src, source_runs, replaying_runs,
                            sum(c.replayed for c in cells if c.source in source_runs),
                            sum(c.computed for c in cells if c.run in source_runs))
    n = len(layout.config)
    saved = {tuple(r[:n]): tuple(r[n:]) for r in saved_rows}
    overall = tally(cells)
    replays, found, seconds = (sum(v[0] for v in saved.values()), sum(v[1] for v in saved.values()),
                               sum(v[2] or 0.0 for v in saved.values()))
    overall["time_saved_seconds"] = _round(seconds) if found else None
    overall["replays_with_origin_found"] = found
    overall["self_replays"] = sum(c.replayed for c in cells if c.source and c.source == c.run)
    findings = diagnose(bench, src, cells, runs)
    if replays and found < replays and src.time:
        findings.append(Finding("time-saved-partial", "info", f"The computing row of {replays - found:,} of "
                                f"{replays:,} replayed calls was not found; time saved counts only the others.", ""))
    if not src.time and overall["replayed"]:
        findings.append(Finding("time-saved-unknown", "info", "No function_time (or latency_s/latency_ms) column: "
                                "time saved is unknown.",
                                "Track the call with tracker.track() (it records function_time)."))
    summary = {"rows_inspected": overall["calls"], "overall": overall,
               "per_configuration": per_configuration(layout, cells, saved), "per_run": runs}
    inferred = {**layout.describe(), "calls": "function_name IS NOT NULL" if layout.function else "all rows",
                "lineage_join": src.identity, "time_seconds": src.time}
    return Report(PROG, summary, findings, inferred)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _secs(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:,.2f}"


def text(report: Report) -> str:
    s = report.summary
    o = s["overall"]
    lines = ["# Cache analysis", "",
             f"{o['calls']:,} tracked calls (rows): {o['computed']:,} computed, {o['replayed']:,} replayed from the cache, "
             f"{o['not_cacheable']:,} not cacheable. Hit rate {_pct(o['hit_rate'])}. Compute time "
             f"{_secs(o['compute_seconds'])} s; time saved by replays {_secs(o['time_saved_seconds'])} s. (Call "
             "time: the summed compute time of the calls replayed, not wall-clock time; calls that ran at the "
             "same time saved less wall-clock time than this.)", ""]
    lines += ["## Per configuration", "", "| configuration | calls | computed | replayed | not cacheable | hit rate | "
              "time saved (s) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for c in s["per_configuration"]:
        lines.append(f"| {c['configuration']} | {c['calls']:,} | {c['computed']:,} | {c['replayed']:,} | "
                     f"{c['not_cacheable']:,} | {_pct(c['hit_rate'])} | {_secs(c['time_saved_seconds'])} |")
    lines += ["", "## Per run (oldest first)", "", "| run | first row | calls | computed | replayed | not cacheable | "
              "hit rate | replayed from |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in s["per_run"]:
        lines.append(f"| {r['run']} | {r['first_seen'] or '-'} | {r['calls']:,} | {r['computed']:,} | "
                     f"{r['replayed']:,} | {r['not_cacheable']:,} | {_pct(r['hit_rate'])} | "
                     f"{', '.join(r['replayed_from']) or '-'} |")
    lines += ["", "## Diagnosis", ""]
    if not report.findings:
        lines.append("Caching worked: no problem found.")
    for f in report.findings:
        lines.append(f"- **{f.severity}** `{f.check_id}`: {f.message}")
        if f.hint:
            lines.append(f"  Fix: {f.hint}")
        for e in f.examples[:5]:
            lines.append(f"  - {e}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    def body(args: argparse.Namespace) -> int:
        paths, table = split_paths_and_table(args.paths, args.table)
        def analyse(engine: str) -> Report:
            with Benchmark(paths, table=table, engine=engine) as bench:
                for message in bench.notes:
                    note(PROG, message)
                bench.require_rows()
                bench.bound_memory()  # DuckDB: the lineage join materialises the replays and their sources
                report = build_report(bench, infer_layout(bench, args.input_col, args.config_cols, args.replicate_cols))
                report.summary["engine"] = bench.engine
                return report

        choice = pick_engine(PROG, args.engine, paths, table)
        report = with_engine_fallback(choice.engine, analyse, lambda message: note(PROG, message))
        record_engine(report.summary, choice, report.summary["engine"])
        inspected = report.summary["rows_inspected"] > 0
        code = report.finish(args.fail_on, inspected=inspected)
        print(report.to_json() if args.json else text(report), end="" if not args.json else "\n")
        if not inspected:
            print(f"{PROG}: no tracked calls (function_name is NULL on every row); nothing inspected",
                  file=sys.stderr)
        return code

    return run(PROG, build_parser(), body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
