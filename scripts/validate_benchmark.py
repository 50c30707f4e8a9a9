#!/usr/bin/env python3
# /// script
# requires-python = ">=3.10,<3.13"
# dependencies = ["duckdb==1.5.5", "duckdb-extension-sqlite-scanner==1.5.5"]
# ///
"""Check a xetrack benchmark database before trusting any number from it.

Finds what silently ruins benchmarks built on xetrack 0.7.0: duplicate executions, configurations evaluated
on different inputs, failures, missing or renamed parameters (including cache-hit rows that lost their
dataclass columns), columns whose stored type drifts or holds asset hashes, mixed code/data versions,
train/test overlap, inconsistent ground truth, cached failures and caching that did nothing. Each finding
says what was found and how to fix it. Read-only. It can run while a benchmark is still writing; on a large
one (millions of rows) add --snapshot so that the writer is never kept waiting.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _bench.cli import (
    SEVERITIES,
    Report,
    base_parser,
    note,
    pick_engine,
    record_engine,
    run,
    split_paths_and_table,
)
from _bench.layout import fold_sample_size, infer_layout, labels_note, moved_note, replicate_unit, sample_size
from _bench.reader import Benchmark, EmptyBenchmark, InputError, with_engine_fallback
from _bench.reader import _sniff as _db_sniff
from _bench.slices import stop_jobs
from _bench.sql import parse_filters
from _bench.validate.fused import fusable, fused_passes
from _bench.validate.passes import (
    add_configuration_stats,
    config_key,
    config_pass,
    create_source,
    global_pass,
)
from _bench.validate.reference import check_same_as
from _bench.validate.rules import (
    CHECKS,
    Context,
    Options,
    asset_hash_columns,
    check_asset_hashes,
    check_cache_ineffective,
    check_cached_failures,
    check_coverage,
    check_duplicates,
    check_failures,
    check_ground_truth,
    check_missing_input,
    check_missing_parameters,
    check_missing_shards,
    check_mixed_types,
    check_overlap,
    check_renamed,
    check_replay_loss,
    check_versions,
    detect_replay_loss,
    replay_loss_predicate,
    shard_column,
)
from _bench.validate.snapshot import snapshot_sqlite
from _bench.validate.tuning import tune

PROG = "validate_benchmark.py"
MAX_SHOWN_CONFIGS = 10  # configurations listed in the text report's --same-as line; --json has them all
EXAMPLES = """  python scripts/validate_benchmark.py bench.db predictions
  python scripts/validate_benchmark.py worker-*.db predictions --json
  python scripts/validate_benchmark.py bench.db --table predictions --fail-on warning --max-error-rate 0.01
  python scripts/validate_benchmark.py bench.db --input-col question_id --config-cols model,prompt
  python scripts/validate_benchmark.py bench.db --filter experiment_version=e2"""
# At least one of these must apply, or the table lacks what makes it a benchmark and nothing was inspected.
CORE_CHECKS = ("duplicate-executions", "unequal-coverage", "failed-executions", "missing-parameters")


def build_parser() -> argparse.ArgumentParser:
    checks = "\n".join(f"  {cid:34} {what}" for cid, what in CHECKS.items())
    parser = base_parser(PROG, __doc__.strip().split("\n\n")[0] + "\n\nchecks (stable ids):\n" + checks, EXAMPLES,
                         fail_on="error")
    parser.add_argument("--max-error-rate", type=_rate, default=0.05, metavar="RATE",
                        help="failed share of computed rows, overall or in any configuration, above which "
                             "failed-executions is an error (default: 0.05)")
    parser.add_argument("--snapshot", action="store_true",
                        help="validate a private copy taken in short reads (temporary, deleted after), so a "
                             "benchmark that is still writing is never blocked for long; use it on a large, "
                             "running benchmark. Only rows already written when the copy starts are validated; rerun to "
                             "include later ones")
    parser.add_argument("--filter", action="append", metavar="COL=VALUE",
                        help="validate only rows where COL equals VALUE, or with COL!=VALUE differs from it "
                             "(compared as text); repeatable: all must hold, but COL=VALUE more than once for one column "
                             "keeps any of those values; e.g. --filter experiment_version=e2")
    parser.add_argument("--same-as", nargs="+", metavar="REF",
                        help="also check that these files (a reference run: one unsharded run, the run before a "
                             "refactor) hold the same keys (configuration and item) with the same outcome values, "
                             "leaving out how each call went (time, retries, requests made); same table and "
                             "--filter. Put it after DB [TABLE]")
    return parser


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def validate(paths: list[str], table: str, engine: str, input_col: str | None, config_cols: list[str] | None,
             filters: list[str] | None, options: Options, snapshot: bool = False) -> Report:
    folder = tempfile.mkdtemp(prefix="validate-snapshot-") if snapshot else None
    try:
        read = take_snapshot(paths, table, folder) if folder else paths
        with Benchmark(read, table=table, engine=engine) as bench:
            for message in bench.notes:  # e.g. a WAL-mode file read through a private copy
                note(PROG, message)
            tune(bench)
            return _validate(bench, input_col, config_cols, filters, options)
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def take_snapshot(paths: list[str], table: str, folder: str) -> list[str]:
    """Copy each SQLite file's table in short read transactions (a running writer is not starved); native
    DuckDB files are read as they are (DuckDB takes no such shared lock)."""
    copies = []
    for i, path in enumerate(paths):
        if _db_sniff(Path(path)) != "sqlite":  # also the one-line error for a missing or non-database file
            copies.append(path)
            continue
        try:
            copies.append(str(snapshot_sqlite(Path(path), table, Path(folder) / f"{i}-{Path(path).name}")))
        except OSError as exc:
            raise InputError(f"cannot snapshot {path} into {folder}: {exc.strerror or exc}") from exc
    return copies


def _validate(bench: Benchmark, input_col, config_cols, filters, options: Options) -> Report:
    layout = infer_layout(bench, input_col, config_cols, options.replicate_cols)
    source = create_source(bench, parse_filters(filters, bench.column_names))
    key = config_key(layout)
    stats, configs = _passes(bench, source, layout, key, filters)
    configs = add_configuration_stats(stats, layout, key, configs)
    if not stats.rows:
        where = f" match --filter {' '.join(filters)}" if filters else ""
        raise EmptyBenchmark(f"no rows in table {bench.table!r} of {bench.describe()}{where}; nothing to inspect")
    loss = detect_replay_loss(bench, source, layout, stats)
    excluded = replay_loss_predicate(layout, loss)
    if excluded:  # rare: count configurations again without the rows that lost their parameters
        configs = [c for c in config_pass(bench, source, layout, key, excluded) if c.configured]
    ctx = Context(bench, source, layout, stats, key, configs, options, excluded=excluded, loss=loss)
    findings = []
    for check_id, (reason, fn) in _plan(ctx).items():
        if reason:
            ctx.skipped[check_id] = reason
            continue
        ctx.ran.append(check_id)
        findings += fn()
    report = Report(tool=PROG, summary=_summary(ctx), findings=_ordered(findings), inferred=layout.describe())
    # No input id, no configuration, no error column: not a benchmark the checks can judge.
    report.summary["judged"] = bool(set(ctx.ran) & set(CORE_CHECKS))
    return report


def _passes(bench: Benchmark, source: str, layout, key: list[str], filters) -> tuple[dict, list]:
    """The global and the per-configuration pass. With SQLite they run at the same time on two connections
    (sqlite3 releases the GIL while a query runs: two cores, two scans); DuckDB parallelises each query itself,
    and reads each column fewer times when the passes are fused into two scans (fused.py)."""
    if bench.engine != "sqlite":
        if not fusable(layout, key):
            return global_pass(bench, source, layout), config_pass(bench, source, layout, key)
        stats, configs = fused_passes(bench, source, layout, key)
        return stats, configs if configs is not None else config_pass(bench, source, layout, key)
    # `second` is entered first so that it is closed last: the worker is always drained before its connection
    # closes. Closing a sqlite3 connection that another thread is still querying crashes the interpreter.
    with Benchmark(bench.paths, table=bench.table, engine="sqlite") as second:
        tune(second)
        second_source = create_source(second, parse_filters(filters, second.column_names))
        with ThreadPoolExecutor(1) as pool:
            configs = pool.submit(config_pass, second, second_source, layout, key)
            try:
                stats = global_pass(bench, source, layout)
            except BaseException:
                stop_jobs([second], [configs])  # e.g. a damaged page: stop the worker's scan, then wait
                raise
            return stats, configs.result()


def _plan(ctx: Context) -> dict:
    """check id -> (why it is skipped, or None; how to run it)."""
    L, s = ctx.layout, ctx.stats
    candidates = ", ".join(L.roles.input_candidates)
    no_input = None if L.input_id else \
        f"no input-id column ({f'several could be: {candidates}; ' if candidates else ''}name it with --input-col)"
    one_config = "one configuration only: nothing to compare" if len(ctx.configs) < 2 else None
    no_params = None if (L.config or L.parameters) else "no configuration columns (name them with --config-cols)"
    hashed: dict = {}

    def assets():
        hashed.update(asset_hash_columns(ctx))
        return check_asset_hashes(ctx, hashed)

    shard = shard_column(L)
    split_reason = None
    if not L.split:
        split_reason = "no split column"
    elif no_input:
        split_reason = no_input
    elif not (s.train_items and s.eval_items):
        split_reason = f"{L.split!r} does not hold both training and evaluation rows"

    same_as = {"same-as-reference": (no_input, lambda: check_same_as(ctx))} if ctx.options.same_as else {}
    return {
        **same_as,
        "missing-parameters": (no_params, lambda: check_missing_parameters(ctx)),
        "missing-parameters.replayed-rows": (
            None if L.cache and (L.config or L.parameters) else "no cache column or no configuration columns",
            lambda: check_replay_loss(ctx, ctx.loss)),
        "missing-input-id": (no_input, lambda: check_missing_input(ctx)),
        "duplicate-executions": (no_input, lambda: check_duplicates(ctx)),
        "unequal-coverage": (no_input or one_config or (None if L.config else "no configuration columns"),
                             lambda: check_coverage(ctx)),
        "failed-executions": (None if L.error else "no error column (xetrack writes one in track())",
                              lambda: check_failures(ctx)),
        "cached-failures": (None if L.error and L.cache else "no error or no cache column",
                            lambda: check_cached_failures(ctx)),
        "cache-ineffective": (no_input, lambda: check_cache_ineffective(ctx)),
        "schema-drift.renamed-parameter": (
            None if len(L.parameters) >= 2 else "fewer than two parameter columns", lambda: check_renamed(ctx)),
        "schema-drift.asset-hashes": (None if L.profiled else "no data columns", assets),
        "schema-drift.mixed-types": (None if L.profiled else "no data columns", lambda: check_mixed_types(ctx, hashed)),
        "mixed-versions": (None if L.versions else "no version column (git_commit_hash, experiment_version, ...)",
                           lambda: check_versions(ctx)),
        "train-test-overlap": (split_reason, lambda: check_overlap(ctx)),
        "inconsistent-ground-truth": (
            no_input or (None if L.ground_truth else "no ground-truth column (ground_truth, y_true, label, ...)"),
            lambda: check_ground_truth(ctx)),
        "missing-shards": (None if shard else "no shard column (a --shard run writes one)",
                           lambda: check_missing_shards(ctx, shard)),
    }


def _ordered(findings: list) -> list:
    """Errors first, then warnings, then info; within a severity, in check order (stable for golden tests)."""
    order = list(CHECKS)
    return sorted(findings, key=lambda f: (-SEVERITIES.index(f.severity), order.index(f.check_id)))


def _sample(ctx: Context) -> str | None:
    """'1,707 items (569 inputs x 3 seeds)', or '15 folds (3 seeds x 5 folds)' for a per-fold table: repeated
    CV where no input repeats across seeds, because each row is a fold."""
    s, unit = ctx.stats, replicate_unit(ctx.layout.describe())
    if s.items is None:
        return None
    if not ctx.layout.repetition:
        return sample_size(s.items, None, None, unit)
    if ctx.layout.fold and (s.replicates or 0) >= 2 and s.distinct_inputs == s.items:
        return fold_sample_size(s.items, s.replicates, unit)
    return sample_size(s.items, s.distinct_inputs, s.replicates, unit)


def _summary(ctx: Context) -> dict:
    s = ctx.stats
    return {
        "rows_inspected": s.rows, "rows_computed": s.computed, "rows_replayed": s.replayed,
        "rows_failed": s.failed_computed + s.failed_replayed, "configurations": len(ctx.configs),
        "items": s.items, "inputs": s.distinct_inputs,
        "replicates": s.replicates if ctx.layout.repetition else None,
        "sample": _sample(ctx),
        "files": len(ctx.bench.paths), "table": ctx.bench.table,
        "engine": ctx.bench.engine, "checks_run": ctx.ran, "checks_skipped": ctx.skipped,
        **({"same_as": ctx.compared} if ctx.compared else {}),
        **({"coverage_within": ctx.coverage_within} if ctx.coverage_within else {}),
    }


def render_text(report: Report) -> str:
    s, inf, n = report.summary, report.inferred or {}, report.counts()
    lines = [f"{PROG}: {report.status.upper()} - {n['error']} errors, {n['warning']} warnings, {n['info']} info "
             f"in {s['rows_inspected']:,} rows ({s['rows_computed']:,} computed, {s['rows_replayed']:,} replayed), "
             f"{s['configurations']} configurations, {s['sample'] or 'no input id'}"]
    config = ", ".join(inf.get("configuration") or []) or "none (one configuration)"
    lines.append(f"inferred: input {inf.get('input_id') or 'none'}; configuration {config} "
                 f"(from {inf.get('configuration_from')}{labels_note(inf)}{moved_note(inf)}); replicate "
                 f"{', '.join(inf.get('replicate') or []) or 'none'}; versions "
                 f"{', '.join(inf.get('versions') or []) or 'none'}  (override: --input-col, --config-cols, --replicate-cols)")
    if s.get("coverage_within"):
        col, items = s["coverage_within"]["column"], s["coverage_within"]["items"]
        lines.append(f"coverage: complete within each {col}, each with its own inputs (items: "
                     f"{', '.join(f'{v} {n:,}' for v, n in items.items())}); compare configurations within one "
                     f"(export_summary.py --within {col}, or --pool {col} for one number over all)")
    for f in report.findings:
        d = f.as_dict()
        lines += ["", f"{f.severity.upper():7} [{f.check_id}] {f.message}", f"        fix: {f.hint}"]
        for example in d["examples"]:
            lines.append(f"        - {example}")
        if d["examples_omitted"]:
            lines.append(f"        ... and {d['examples_omitted']} more")
    if s.get("same_as"):
        c = s["same_as"]
        left = f"; left out (how each call went): {', '.join(c['left_out'])}" if c["left_out"] else ""
        lines += ["", f"compared with {', '.join(c['reference'])}: {c['agree']:,} keys ({', '.join(c['key'])}) "
                      f"agree on {', '.join(c['compared']) or 'keys only'}{left}"]
        differing = [f"{d['configuration']}: " + ", ".join(
            f"{d[k]:,} {what}" for k, what in (("only_here", "only here"), ("only_reference", "only in the reference"),
                                               ("differ", "with other values")) if d[k])
            for d in c.get("by_configuration") or []]
        if differing:
            shown = differing[:MAX_SHOWN_CONFIGS]
            more = f"; and {len(differing) - len(shown)} more (--json)" if len(differing) > len(shown) else ""
            lines.append(f"differences by configuration: {'; '.join(shown)}{more}")
    lines += ["", f"checks run: {len(s['checks_run'])}; skipped: "
              + ("; ".join(f"{k} ({v})" for k, v in s["checks_skipped"].items()) or "none")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    def body(args: argparse.Namespace) -> int:
        paths, table = split_paths_and_table(args.paths, args.table)
        options = Options(max_error_rate=args.max_error_rate, same_as=args.same_as, filters=args.filter,
                          replicate_cols=args.replicate_cols)
        choice = pick_engine(PROG, args.engine, paths, table)
        report = with_engine_fallback(
            choice.engine, lambda engine: validate(paths, table, engine, args.input_col, args.config_cols,
                                                 args.filter, options, args.snapshot),
            lambda message: note(PROG, message))
        record_engine(report.summary, choice, report.summary["engine"])
        code = report.finish(args.fail_on, inspected=report.summary["judged"])
        print(report.to_json() if args.json else render_text(report))
        if report.status == "empty":
            print(f"{PROG}: error: table {table!r} has none of the columns the checks need (an input id, "
                  "configuration columns, or xetrack's error column); nothing was inspected. Name them with "
                  "--input-col / --config-cols", file=sys.stderr)
        return code

    return run(PROG, build_parser(), body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
