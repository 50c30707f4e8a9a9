#!/usr/bin/env python3
# /// script
# requires-python = ">=3.10,<3.13"
# dependencies = [
#   "numpy>=1.26,<3", "scipy>=1.11,<2", "matplotlib>=3.7,<4",
#   "duckdb==1.5.5", "duckdb-extension-sqlite-scanner==1.5.5",
# ]
# ///
"""Which configuration is best, and is the difference real? A benchmark summary with honest uncertainty.

Per configuration: n, failures, each metric with a 95% interval, latency percentiles, tokens and cost. Then
every configuration against the best (or --pairs CONFIG), or every pair (--pairs all), on the same items
(paired test, interval of the difference, effect size, multiplicity-adjusted p-value within a stated family)
with a plain verdict: better, worse, or no detectable difference.
"""

from __future__ import annotations

import argparse
import math
import re
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from _bench.cli import (
    Finding,
    Report,
    base_parser,
    comma_list,
    note,
    pick_engine,
    record_engine,
    refuse_output_over_inputs,
    run,
    split_paths_and_table,
)
from _bench.layout import LOAD_SCHEDULE_NAMES, Layout, infer_layout, require_column, short_labels, strata
from _bench.reader import Benchmark, EmptyBenchmark, InputError, first_line, with_engine_fallback
from _bench.sql import as_text, filters_shown, filters_sql, parse_filters, q
from _bench.summary.compute import Options, compare_pairs, decide, pairs_to_compare, summarise_all
from _bench.summary.load import analyse as analyse_load
from _bench.summary.load import parse_slo
from _bench.summary.model import StratumInput, config_display, stratum_entry
from _bench.summary.plan import HIGHER_IS_BETTER, LOWER_IS_BETTER, Plan, build_plan, with_values_seen
from _bench.summary.reference import reference_index, unknown_reference
from _bench.summary.render import csv_text, markdown, plot, plot_load
from _bench.summary.save import save as save_tables
from _bench.summary.scan import Group, enumerate_groups, partition

PROG = "export_summary.py"
EXAMPLES = """  python scripts/export_summary.py bench.db predictions
  python scripts/export_summary.py bench.db predictions --metric f1:higher --metric latency_ms:lower
  python scripts/export_summary.py worker*.db predictions --json > summary.json
  python scripts/export_summary.py bench.db predictions --version e2 --plot summary.png
  python scripts/export_summary.py bench.db predictions --pairs all
  python scripts/export_summary.py bench.db predictions --pairs model=svm
  python scripts/export_summary.py bench.db predictions --pairs all --save summary.db --items-needed 0.02
  python scripts/export_summary.py throughput.db requests --slo "p99<50ms, errors<1%" --plot load.png
  python scripts/export_summary.py bench.db predictions --metric accuracy:higher --metric latency_ms:lower
  python scripts/export_summary.py bench.db predictions --csv > summary.csv

how it counts:
  item           one input; with seed/fold columns, one (input, seed, fold): that is what gets paired;
                 reported as "569 inputs x 10 seeds (5,690 items)"
  deduplication  each (configuration, item) counts once: a success wins over a failure (a retry), a computed
                 row over its cache replay, the first logged over later repeats
  failures       rows with a non-empty `error` are excluded from metrics and counted as failed
  versions       experiment_version, git hashes, *_version columns: each version is reported on its own
  intervals      Wilson for 0/1 metrics, bootstrap over items for scores; with replicate columns but no
                 fold (seeds of independent runs), a cluster-robust t interval over them; 0/1 metrics are
                 kept within [0, 1] (clipping is said in the interval's name)
  repeated CV    with a fold column (seed x fold, repeated k-fold cross-validation) the folds of one seed
                 share training data, so per-fold scores are correlated: intervals and comparisons use
                 the per-fold values and the Nadeau-Bengio corrected resampled t (variance factor
                 1/J + n_test/n_train, J - 1 df; n_test/n_train from the data: a fold's items vs the rest
                 of its seed); a naive or cluster-robust t over folds would be anti-conservative
  comparisons    McNemar exact (0/1), Wilcoxon signed-rank + paired bootstrap (scores), cluster-robust t
                 (seed only), corrected resampled t (seed x fold); Holm-adjusted p-values
  unit           with seeds and no fold: the seed (default), or with --unit input each input's mean over
                 its seeds (over those both sides have, in a pair): noisy fits; the default for sample_idx
                 (K samples per question)
  pairs          --pairs best (each against the best by the first metric), all (every pair once, the
                 better-ranked one as reference), or CONFIG (each against that one; --reference CONFIG); --within
                 COLS keeps each pair inside a group of equal COLS values (each model's prompts)
  families       p-values are adjusted together per metric (--family metric) or all at once (--family
                 all); each comparison states its family and its size
  detectable     beside every comparison, the smallest true difference its test detects with 80% power,
                 from that comparison's own discordance (0/1) or spread (scores; seeds and folds with the
                 corrected SE), at alpha/m for a family of m (conservative); --items-needed DELTA turns it
                 around: the items, seeds or folds a difference of DELTA needs
  verdicts       follow the adjusted p-values, while intervals are unadjusted 95% intervals: an interval
                 that excludes zero can still read "no detectable difference after adjusting"
  effect size    Cohen's d_z; its words (negligible ... large) only for scores: on 0/1 outcomes d_z is
                 small even when an error rate halves, so read the difference in points there
  ranks          equal estimates share a rank ("1=") and are called tied, never a win
  load tests     a request table (latency beside when each request was due) gets per-level p50/p95/p99
                 with the wider of block-bootstrap and exact intervals, and with --slo a verdict per level
                 (meets / fails / undecided) and the highest rate that meets (references/load-testing.md)
  notes          data problems found on the way are listed as findings; they fail the run (exit 1)
                 only at or above --fail-on (default: error, i.e. a produced summary exits 0)"""


def _failures(text: str) -> str:
    if text in ("exclude", "wrong"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected exclude, wrong or a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"the score of a failed call must be a finite number, got {text!r}")
    return repr(value)


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, __doc__.strip().splitlines()[0], EXAMPLES, fail_on="error")
    parser.add_argument("--metric", action="append", metavar="COL[:higher|lower]",
                        help="a numeric column to compare, with its direction (repeatable; the first one picks "
                             "the best). 'accuracy' is also a valid name: it is derived from prediction/ground-truth "
                             "columns (or is the mean of a 0/1 'correct' column) and added automatically; "
                             "--metric accuracy:higher puts it first. --metric correct, when accuracy is the mean "
                             "of that column, is the same metric and is reported once, as accuracy")
    parser.add_argument("--latency-col", metavar="COL", help="latency column (default: latency_ms, latency, ... "
                        "or xetrack's function_time)")
    parser.add_argument("--version", metavar="VALUE", help="report only rows whose version column "
                        "(experiment_version, git hash, ...) equals VALUE")
    parser.add_argument("--pairs", metavar="best|all|CONFIG", default="best",
                        help="which pairs to compare: 'best' (default: every configuration against the best), "
                             "'all' (every pair, k(k-1)/2, judged in one multiplicity family per metric), or a "
                             "CONFIG to compare every other one with ('is X better than Y?'): the label the report "
                             "prints, e.g. 'model=svm', the full key, or a config_id value; an unknown value is an "
                             "error listing the labels")
    parser.add_argument("--reference", metavar="CONFIG", help="the same as --pairs CONFIG (kept for scripts)")
    parser.add_argument("--within", metavar="A,B", type=comma_list,
                        help="compare only configurations with the same values of these configuration columns: "
                             "with --pairs all, every pair within each group; with best, each against its group's "
                             "best. E.g. --config-cols model,prompt --pairs all --within model: each model's "
                             "prompts; --config-cols model,track_id --within model: each model across runs")
    parser.add_argument("--family", choices=("metric", "all"), default="metric",
                        help="which p-values are adjusted together: each metric's comparisons (default), or all "
                             "comparisons of a version at once (stricter: adding a metric then changes every p)")
    parser.add_argument("--filter", action="append", metavar="COL=VALUE",
                        help="summarise only rows where COL equals VALUE, or with COL!=VALUE differs from it "
                             "(compared as text); repeatable, all must hold, e.g. --filter track_id!=run-b to "
                             "leave a later re-run out")
    parser.add_argument("--failures", type=_failures, default="exclude", metavar="exclude|wrong|VALUE",
                        help="failed calls (non-empty error): excluded from metrics and from the pairs "
                             "(default), or counted as wrong answers in right/wrong metrics: accuracy, or a "
                             "--metric column holding only 0 and 1 (other metrics still exclude them), or scored "
                             "VALUE in every metric (0: the nDCG of a search that timed out); say which in the "
                             "report")
    parser.add_argument("--pool", metavar="A,B", type=comma_list,
                        help="parameters to pool over: with --config-cols model --pool prompt each model's numbers "
                             "(metrics, latency percentiles, cost) cover both prompts, pairs match on the same input "
                             "and prompt, and each input's mean is the unit")
    parser.add_argument("--unit", choices=("auto", "replicate", "input"), default="auto",
                        help="with a replicate column and no fold, what intervals and tests resample: the "
                             "replicates (a cluster-robust t over the seeds, for seeds of independent runs), or the "
                             "inputs, each the mean of its replicates (K samples per question, or seeds that only "
                             "re-draw noise on the same inputs: then the result holds for these seeds, not new "
                             "ones). auto (default): input for a sample_idx/sample_index column, else replicate")
    parser.add_argument("--slo", metavar="OBJECTIVE", type=_slo,
                        help="a load test's service-level objective, e.g. 'p99<50ms' or 'p95<0.2s, errors<1%%' "
                             "(all clauses must hold): per level, the share of requests that broke it with an "
                             "interval, a verdict (meets / fails / undecided), and the highest rate that meets")
    parser.add_argument("--kind", choices=("auto", "load", "benchmark"), default="auto",
                        help="what the table is: auto (default: a load test when it has a latency beside when each "
                             "request was due, e.g. scheduled_s), load, or benchmark")
    parser.add_argument("--items-needed", type=float, metavar="DELTA",
                        help="plan from a pilot: for every comparison, how many items (or seeds, or "
                             "cross-validation folds) a true difference of DELTA (in the metric's units, e.g. "
                             "0.02 for two accuracy points) needs for 80%% power at the alpha its family leaves")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level; intervals are "
                        "(1 - alpha) (default: 0.05, 95%% intervals)")
    parser.add_argument("--adjust", choices=("holm", "bh", "none"), default="holm",
                        help="multiple-comparison adjustment of p-values (default: holm)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default: 2000)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="print a CSV table (one row per configuration and "
                     "metric) instead of Markdown")
    parser.add_argument("--plot", metavar="FILE.png", type=Path, help="also draw each metric with its "
                        "interval per configuration; for a load test, latency over time per level with the SLO "
                        "thresholds")
    parser.add_argument("--save", metavar="OUT.db", type=Path,
                        help="also write the results as SQLite tables `summary` (configuration x metric) and "
                             "`comparisons` (pair x metric) into OUT.db (created if missing; never one of the "
                             "inputs). Saving unchanged results again adds no rows; changed results add rows "
                             "and the latest save wins: see references/analysis.md")
    return parser


def _slo(text: str) -> list:
    try:
        return parse_slo(text)
    except InputError as exc:  # argparse turns this into its one-line usage error
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--slo: ")) from None


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse cannot say by itself; each a usage error (one line, exit 2)."""
    if args.json and args.csv:
        parser.error("--json and --csv cannot be combined")
    if not 0 < args.alpha < 0.5:
        parser.error("--alpha must be between 0 and 0.5")
    if args.resamples < 100:
        parser.error("--resamples must be at least 100")
    if args.items_needed is not None and not args.items_needed > 0:
        parser.error("--items-needed must be a positive difference, e.g. 0.02")
    if args.reference is not None:
        if args.pairs not in ("best", args.reference):
            parser.error(f"--reference {args.reference!r} and --pairs {args.pairs!r} disagree; give one of them")
        args.pairs = args.reference
    if args.within and args.pairs not in ("best", "all"):
        parser.error("--within groups the pairs of --pairs all or best; a named reference is one configuration")


def version_filter(bench: Benchmark, layout: Layout, value: str | None) -> tuple[str, list]:
    if value is None:
        return "", []
    if not layout.versions:
        raise InputError("--version given, but the table has no version column "
                         "(experiment_version, git_commit, *_version, ...)")
    cond = " OR ".join(f"{as_text(q(v))} = ?" for v in layout.versions)
    where = f" WHERE ({cond})"
    params = [value] * len(layout.versions)
    if not bench.query(f"SELECT 1 FROM {bench.VIEW}{where} LIMIT 1", params):
        known = bench.query(f"SELECT DISTINCT {', '.join(as_text(q(v)) for v in layout.versions)} "
                            f"FROM {bench.VIEW} LIMIT 20")
        listing = "; ".join(", ".join(f"{c}={v}" for c, v in zip(layout.versions, row, strict=True))
                            for row in known)
        raise InputError(f"no rows with version {value!r}; available: {listing}")
    return where, params


def row_filter(bench: Benchmark, layout: Layout, version: str | None,
               filters: list[tuple[str, str, str]]) -> tuple[str, list]:
    """The WHERE clause of --version and every --filter COL=VALUE / COL!=VALUE (as text, as validate does)."""
    where, params = version_filter(bench, layout, version)
    if not filters:
        return where, params
    where = f"{where} AND {filters_sql(filters)}" if where else f" WHERE {filters_sql(filters)}"
    if not bench.query(f"SELECT 1 FROM {bench.VIEW}{where} LIMIT 1", params):
        shown = " ".join(filters_shown(filters))
        raise EmptyBenchmark(f"no rows in table {bench.table!r} of {bench.describe()} match --filter {shown}")
    return where, params


def non_numeric_findings(bench: Benchmark, plan: Plan, where: str, params: list) -> list[Finding]:
    """A metric column holding text (a numpy scalar logged by xetrack 0.7.0 becomes a 16-hex asset hash)."""
    out = []
    for m in plan.metrics:
        if m.direction_from == "definition":
            continue
        total, numeric_count = bench.query(f"SELECT COUNT({q(m.name)}), COUNT({m.sql}) FROM {bench.VIEW}{where}",
                                           params)[0]
        if total > numeric_count:
            glue = " AND " if where else " WHERE "
            examples = [r[0] for r in bench.query(
                f"SELECT DISTINCT {as_text(q(m.name))} FROM {bench.VIEW}{where}{glue}{q(m.name)} IS NOT NULL "
                f"AND ({m.sql}) IS NULL LIMIT 5", params)]
            out.append(Finding("non-numeric-metric", "warning",
                               f"{total - numeric_count:,} of {total:,} values of {m.name!r} are not numbers and "
                               "were left out.",
                               "16-hex text is a xetrack asset hash: numpy scalars are stored as assets; log "
                               "float(x) instead.", examples, total - numeric_count))
    return out


def _order_key(c, metric) -> tuple:
    """Best first by the primary metric; configurations without an estimate (no values, or values too large
    to average) last."""
    est = math.nan if metric is None else c.metrics[metric.name].interval.estimate
    if metric is None or c.metrics[metric.name].n == 0 or math.isnan(est):
        return (1, 0.0)
    return (0, -est if metric.higher_is_better else est)


def slo_on_benchmark_table(layout: Layout) -> str:
    """Why --slo cannot judge this table, and what can: its intervals come from a load test's schedule."""
    if any(c in layout.columns for c in LOAD_SCHEDULE_NAMES):
        return ("--slo needs a load test's request table (a latency beside when each request was due); this one "
                "has the schedule: pass --kind load (and --latency-col COL if the latency is not found)")
    return ("--slo judges the levels of a load test, whose request table records when each request was due "
            f"({' or '.join(LOAD_SCHEDULE_NAMES[:2])}); this table has no such column. Without --slo the results "
            "table gives each configuration's latency p50 / p95 / p99; to judge an objective at a request rate, "
            "measure it with assets/throughput_benchmark_template.py")


def metric_candidates(layout: Layout, plan: Plan) -> list[str]:
    """`--metric COL:direction` for each numeric outcome column a metric could be (not latency, tokens or
    cost, not an error or a bookkeeping time), the direction read from the name where the name says it."""
    measured = {plan.latency, plan.tokens, plan.cost}
    not_metric = re.compile(r"error|_time$|_ms$|_s$|_seconds$|tokens|cost|bytes|_count$|_hash|status", re.I)
    names = [c for c in layout.roles.outcomes if layout.columns.get(c) in ("integer", "real")
             and c not in measured and not not_metric.search(c)]
    return [f"--metric {c}:lower" if LOWER_IS_BETTER.search(c) else f"--metric {c}:higher" if HIGHER_IS_BETTER.search(c)
            else f"--metric {c}:higher or :lower (the name does not say which)" for c in names]


def count_findings(summaries: list, strata: int, layout: Layout, plan: Plan, excluded: list[Group],
                   failures: str = "exclude") -> list[Finding]:
    findings = []
    if strata > 1:
        findings.append(Finding("versions-separated", "info", f"{strata} versions found; each is reported on its "
                                "own and never pooled.", "Pick one with --version VALUE."))
    if not plan.metrics:
        candidates = metric_candidates(layout, plan)
        suggestion = (f"Name one: {', '.join(candidates)}." if candidates
                      else "Name a numeric column: --metric COL:higher (or :lower).")
        findings.append(Finding("no-metric", "warning", "No metric found: no prediction/ground-truth pair and no "
                                "--metric, so nothing is ranked or compared.", suggestion))
    if not layout.input_id:
        findings.append(Finding("no-item-id", "warning", "No input id column: items cannot be paired, so "
                                "configurations are not compared.", "Name it with --input-col COL."))
    dups = sum(c.duplicates_dropped for c in summaries)
    if dups:
        findings.append(Finding("duplicates-counted-once", "warning", f"{dups:,} repeated successful computed rows "
                                "of the same configuration and item were counted once (the first one logged).",
                                "If they are intended repeats, log a replicate column (seed, repeat); otherwise "
                                "run validate_benchmark.py to find them."))
    retried = sum(c.retries_superseded for c in summaries)
    if retried:
        findings.append(Finding("retries-counted-once", "info", f"{retried:,} failed rows have a successful row of "
                                "the same configuration and item (a retry): the success is scored, the failure is "
                                "not counted as one.",
                                "validate_benchmark.py reports every failure, retried or not."))
    replays = sum(c.replays_dropped for c in summaries)
    if replays:
        findings.append(Finding("replays-counted-once", "info", f"{replays:,} cache-replayed rows repeat an item "
                                "already computed and were not counted again.", ""))
    failed = sum(c.failed for c in summaries)
    repeated = sum(c.failures_repeated for c in summaries)
    again = f" ({repeated:,} more failed rows are repeated attempts at these items)" if repeated else ""
    scored = failures not in ("exclude", "wrong")
    wrong = [m.name for m in plan.metrics if scored or (failures == "wrong" and m.right_or_wrong)]
    if failed and scored:
        findings.append(Finding("failures-scored", "info", f"{failed:,} items that only failed (non-empty "
                                f"error){again} score {failures} in {', '.join(wrong)} (--failures {failures}); "
                                "they are counted per configuration.", "Report the result with failures "
                                "excluded too (the default), and say which is which."))
    elif failed and wrong:
        rest = [m.name for m in plan.metrics if m.name not in wrong]
        findings.append(Finding("failures-counted-wrong", "info", f"{failed:,} items that only failed (non-empty "
                                f"error){again} count as wrong answers in {', '.join(wrong)} (--failures wrong)"
                                + (f" and are excluded from {', '.join(rest)}" if rest else "")
                                + "; they are counted per configuration.", ""))
    elif failed:
        # --failures wrong with no right/wrong metric changes nothing: say so rather than ignore it quietly
        ignored = (" --failures wrong was given, but no metric holds only right/wrong (0/1) values, so it "
                   "changed nothing." if failures == "wrong" else "")
        findings.append(Finding("failures-excluded", "warning" if ignored else "info",
                                f"{failed:,} items that only failed (non-empty error){again} are excluded from "
                                f"metrics and counted per configuration.{ignored}",
                                "--failures wrong counts them as wrong answers in right/wrong metrics (accuracy, "
                                "or a --metric column holding only 0 and 1) instead."))
    if excluded:
        rows = sum(g.rows for g in excluded)
        findings.append(Finding("rows-without-configuration", "warning", f"{rows:,} rows carry no configuration "
                                f"(every one of {', '.join(layout.config)} is NULL) and were left out.",
                                "xetrack 0.7.0 does not unpack dataclass arguments on cache replays: pass the "
                                "configuration fields through track(params=...) or use config_id."))
    return findings


def coverage_findings(summaries: list, names: dict[int, str], layout: Layout) -> list[Finding]:
    """Configurations of one version (and dataset) scored on different numbers of items: their estimates are over
    different sets (the paired comparisons are not: they use the shared items). Not for load tests (no items)."""
    if not layout.input_id or layout.kind == "load":
        return []
    # a dataset column (layout.strata): each dataset has its own items, so only configurations of one compare
    at = [layout.config.index(col) for col in strata(layout.config)]
    by_version: dict[tuple, list] = {}
    for c in summaries:
        by_version.setdefault(c.group.versions + tuple(c.group.config[i] for i in at), []).append(c)
    examples = []
    for configs in by_version.values():
        most = max(c.items for c in configs)
        examples += [f"{names[c.index]}: {c.items:,} of {most:,} items" for c in configs if c.items < most]
    if not examples:
        return []
    return [Finding("unequal-items", "warning", f"{len(examples)} configurations were scored on fewer items than "
                    "others of their version, so their estimates cover different items; the comparisons pair "
                    "shared items only.", "validate_benchmark.py's unequal-coverage names the missing items; run "
                    "them, or read the estimates with that in mind.", examples)]


def latency_failure_findings(summaries: list, names: dict[int, str], plan: Plan) -> list[Finding]:
    """A failed call has no latency, so the percentiles leave it out; once failures are more than 1 - q of the
    calls, p_q is no longer what a caller waited (a timeout took at least its limit)."""
    if not plan.latency:
        return []
    examples = []
    for c in summaries:
        calls = c.latency_n + c.failed
        share = c.failed / calls if calls else 0.0
        hit = [p for p, q in (("p50", 0.5), ("p95", 0.05), ("p99", 0.01)) if share > q]
        if hit and c.latency_n:
            examples.append(f"{names[c.index]}: {c.failed:,} of {calls:,} calls failed ({share:.1%}): its "
                            f"{'/'.join(hit)} {'leaves' if len(hit) == 1 else 'leave'} them out")
    if not examples:
        return []
    configurations = f"{len(examples)} configuration{'s' if len(examples) > 1 else ''}"
    return [Finding("latency-without-failures", "warning", f"In {configurations} more calls failed "
                    "than a percentile's tail holds: failed calls have no latency, so those percentiles describe "
                    "the calls that succeeded, not what callers waited.",
                    "Give failures their time (a timeout: at least its limit) and take the percentile over every "
                    "call (duckdb-analysis.md), or report the failure rate beside the latency.", examples)]


def uneven_retries_findings(summaries: list, names: dict[int, str]) -> list[Finding]:
    """Failures retried in some configurations of a version and left failed in others: a retry turns a
    configuration's failures into successes, so the retried ones are scored on more items (and, with
    --failures wrong, fewer misses) for a reason that is not the configuration."""
    by_version: dict[tuple, list] = {}
    for c in summaries:
        by_version.setdefault(c.group.versions, []).append(c)
    retried, unretried = [], []
    for configs in by_version.values():
        if any(c.retries_superseded for c in configs):
            retried += [c for c in configs if c.retries_superseded]
            unretried += [c for c in configs if c.failed and not c.retries_superseded]
    if not unretried:
        return []
    examples = ([f"{names[c.index]}: {c.retries_superseded:,} failures retried successfully" for c in retried]
                + [f"{names[c.index]}: {c.failed:,} failures, none retried" for c in unretried])
    return [Finding("uneven-retries", "warning", f"Failed calls were retried in {len(retried)} configurations but "
                    f"not in {len(unretried)} others with failures: the retried ones are scored on more "
                    "successes for a reason that is not the configuration (with --failures wrong, on fewer "
                    "misses).", "Retry every configuration's failures, or leave the retry run out "
                    "(--filter track_id!=RUN; analyze_cache_hits.py's per-run table lists the runs).", examples)]


FEW_SEEDS = 5  # below this many seeds, a cluster-robust t has fewer than 4 degrees of freedom


def within_key(layout: Layout, columns: tuple) -> Callable | None:
    """--within: a configuration's values of those columns, the group its pairs stay in."""
    if not columns:
        return None
    unknown = [c for c in columns if c not in layout.config]
    if unknown:
        raise InputError(f"--within {','.join(unknown)}: not a configuration column; the configuration is "
                         f"{', '.join(layout.config) or 'none'} (--config-cols sets it)")
    if set(columns) >= set(layout.config):
        raise InputError(f"--within {','.join(columns)}: every configuration column, so each group holds one "
                         "configuration and nothing is compared; leave one out")
    at = [layout.config.index(c) for c in columns]
    return lambda summary: tuple(summary.group.config[i] for i in at)


def mixed_configuration_findings(bench: Benchmark, layout: Layout, summaries: list, names: dict[int, str],
                                 where: str, params: list) -> list[Finding]:
    """--config-cols left out a parameter that varies within a configuration on the same items (model without
    prompt): an item's rows under two prompts look like repeats, one is dropped, and the numbers hold an
    arbitrary mix. One GROUP BY configuration, run only when rows were dropped as repeats and columns were left
    out."""
    dropped = {c.index: c.duplicates_dropped + c.retries_superseded for c in summaries}
    if not layout.left_out or not any(dropped.values()):
        return []
    keys = layout.versions + layout.config
    counts = ", ".join(f"COUNT(DISTINCT {q(c)})" for c in layout.left_out)
    grouped = ", ".join(q(k) for k in keys)
    sql = f"SELECT {grouped}, {counts} FROM {bench.VIEW}{where} GROUP BY {grouped}"
    varying = {tuple(row[:len(keys)]): {c: n for c, n in zip(layout.left_out, row[len(keys):], strict=True) if n > 1}
               for row in bench.query(sql, params)}
    examples, columns = [], []
    for c in summaries:
        mixed = varying.get(tuple(c.group.versions + c.group.config), {})
        if mixed and dropped[c.index]:
            examples.append(f"{names[c.index]}: " + ", ".join(f"{col} takes {n} values" for col, n in mixed.items())
                            + f"; {dropped[c.index]:,} rows dropped as repeats of an item")
            columns += [col for col in mixed if col not in columns]
    if not examples:
        return []
    shown = ", ".join(columns)
    return [Finding("configurations-mixed", "error", f"--config-cols leaves out {shown}, which varies within "
                    f"{len(examples)} configurations on the same items: an item's rows under two {shown} values "
                    "look like repeats, one of them is dropped, and each configuration's numbers hold an "
                    "arbitrary mix of them.",
                    f"Add {shown} to --config-cols (with --within to compare inside each group), or pick one with "
                    f"--filter {columns[0]}=VALUE, or pool over it with --pool {shown} (a model's numbers over "
                    f"every {shown}, paired on the same input and {shown}).", examples)]


SAMPLE_NAMES = ("sample_idx", "sample_index")  # replicate columns that number samples of one question


def apply_pool(layout: Layout, pool: list[str] | None) -> None:
    """--pool COLS: each configuration's numbers cover every value of COLS (a model over both prompts), so COLS
    join the item: pairs match on the same input and COLS values."""
    if not pool:
        return
    for col in pool:
        require_column(layout, col, "--pool")
        if col in layout.config or col in (layout.input_id, *layout.replicate, *layout.versions):
            raise InputError(f"--pool {col}: it is the configuration, input, replicate or version column; pool "
                             "over a parameter the configuration leaves out (--config-cols model --pool prompt)")
    layout.pooled = list(pool)
    layout.left_out = [c for c in layout.left_out if c not in pool]


def resolve_unit(layout: Layout, unit: str) -> str:
    """--unit auto: the input when every replicate column numbers samples of one question (sample 3 of one
    question has nothing in common with sample 3 of another, so a sample index is no cluster), else the
    replicate (a seed may train a model: what a new run re-draws). An explicit unit is checked: `input`
    averages each input's replicates, so it needs them, an input id, and no fold (repeated CV is tested per
    fold, whose items are not the same across seeds)."""
    if layout.pooled:  # an input's rows under two prompts are not independent items: the input is the unit
        if unit == "replicate":
            raise InputError("--pool makes each input's mean over the pooled values the unit; --unit replicate "
                             "cannot go with it")
        if not layout.input_id or layout.fold:
            raise InputError("--pool needs an input id column (--input-col) and no fold column: it pairs "
                             "configurations on the same input and pooled values")
        return "input"
    if unit == "auto":
        samples = layout.replicate and all(c.lower() in SAMPLE_NAMES for c in layout.replicate)
        return "input" if samples and layout.input_id else "replicate"
    if unit != "input":
        return unit
    if not layout.replicate:
        raise InputError("--unit input: no replicate column (seed, repeat, trial, sample_idx, ...) was found, so "
                         "each item is already an input")
    if layout.fold:
        raise InputError(f"--unit input: the fold column {layout.fold!r} makes this repeated cross-validation, "
                         "which is tested per fold (a seed's folds share training data); leave --unit out")
    if not layout.input_id:
        raise InputError("--unit input: no input id column to average the replicates of; name it with --input-col")
    return unit


def few_seeds_findings(summaries: list, layout: Layout, unit: str = "replicate") -> list[Finding]:
    """Seeds of independent runs on the same test items: each comparison rests on one difference per seed. Its
    interval reflects training randomness, not which test items were drawn (shared by every seed), and with few
    seeds it is both weak for real differences and, by chance, sometimes narrow. With --unit input the inputs
    are the unit instead, and the finding says what that leaves out."""
    if layout.pooled and summaries:
        pooled, over = ", ".join(layout.pooled), " and ".join([*layout.replicate, *layout.pooled])
        return [Finding("pooled", "info", f"Each configuration's numbers are pooled over {pooled} (--pool): its "
                        "metrics, latency percentiles and cost cover every value. Pairs match on the same "
                        f"{layout.input_id} and {pooled}; the unit is each {layout.input_id}'s mean over its {over} "
                        "values, so intervals and tests resample inputs.",
                        f"A pooled number weighs each {pooled} value by its rows; to see whether they differ, "
                        f"add {pooled} to --config-cols with --within.")]
    if not layout.replicate or layout.fold or layout.kind == "load" or not summaries:
        return []
    seeds = min(c.clusters for c in summaries)
    if unit == "input":
        return [Finding("unit-input", "info", f"Each input ({layout.input_id}) is the unit: its mean over its "
                        f"{layout.replicate[0]} values (in a pair, over those both sides have). Intervals and "
                        f"tests resample inputs, so they hold for these {layout.replicate[0]} values; a "
                        f"{layout.replicate[0]} that moves every input's score together is not in them.",
                        f"If {layout.replicate[0]} re-draws something that differs between runs (a model's "
                        "training), --unit replicate makes it the unit.")]
    if not 2 <= seeds < FEW_SEEDS:
        return []
    return [Finding("few-seeds", "info", f"Intervals and comparisons rest on {seeds} seeds ({seeds - 1} degrees of "
                    "freedom): one difference per seed. They measure how much the result moves between seeds; "
                    "when every seed scored the same items, which items were drawn is left out, so a real "
                    "difference can go undetected and, when the seeds happen to agree, an interval can be "
                    "narrower than the items justify.", f"Read each seed's paired test too (--filter {layout.replicate[0]}=K for each "
                    "seed), and add seeds before items: they are the unit here. If the seed only re-draws noise on the same "
                    "inputs (K samples per question, a stochastic fit per series), --unit input makes each input's "
                    "mean over its seeds the unit.")]


def non_finite_findings(summaries: list, names: dict[int, str]) -> list[Finding]:
    """Infinite or overflowing metric values: never a verdict from them, and the report says where they were."""
    examples = []
    for c in summaries:
        for metric, m in c.metrics.items():
            if m.non_finite:
                examples.append(f"{names[c.index]}: {metric} has {m.non_finite:,} infinite values (excluded from "
                                "its interval and comparisons)")
            if m.too_large:
                examples.append(f"{names[c.index]}: {metric} has {m.too_large:,} values beyond 1e150 (too large "
                                "to average: no interval, not compared)")
    if not examples:
        return []
    return [Finding("non-finite-values", "warning", f"{len(examples)} configuration metrics hold infinite or "
                    "overflowing values; those values are excluded, or the metric is not compared.",
                    "Find the rows (e.g. WHERE ABS(col) > 1e150) and fix the computation that produced them, "
                    "or exclude them explicitly.", examples)]


def beyond_data_findings(summaries: list, names: dict[int, str]) -> list[Finding]:
    """Intervals that reach past every value observed (e.g. a log loss interval below 0)."""
    examples = []
    for c in summaries:
        for metric, m in c.metrics.items():
            if m.beyond_data:
                low, high, top = m.beyond_data
                iv = m.interval
                examples.append(f"{names[c.index]}: {metric} [{iv.low:.4g}, {iv.high:.4g}] vs observed "
                                f"[{low:.4g}, {high:.4g}]; the largest 1 % of its values hold {top:.0%} of the total")
    if not examples:
        return []
    return [Finding("interval-beyond-data", "warning", f"{len(examples)} intervals reach past every value "
                    "observed: the fold or seed means spread widely because a few extreme items dominate the "
                    "mean, so the interval is wide and its ends are not values the metric takes.",
                    "Look at those items (ORDER BY the metric DESC); a bounded or rank-based metric (accuracy, "
                    "Brier score, median) answers more stably. Comparisons of this metric stay valid but weak.",
                    examples)]


def load_findings(load: dict) -> list[Finding]:
    findings = []
    if load["non_monotone"]:
        findings.append(Finding("slo-non-monotone", "warning", "Verdicts do not fall with the rate: "
                                f"{'; '.join(load['non_monotone'])}. The capacity is the highest meeting rate "
                                "below the first failing one.", "Re-measure those levels (--rerun), with a settle "
                                "time between levels, before trusting a capacity.", load["non_monotone"]))
    short = [f"{lv['label']} ({lv['window_s']:.1f} s)" for lv in load["levels"] if lv["block_s"] < 1.0]
    if short:
        findings.append(Finding("slo-short-levels", "warning", f"{len(short)} levels last less than 5 s: their "
                                "blocks are shorter than 1 s, so a stall can span blocks and the intervals are "
                                "rough.", "Measure each level for 30 s or more (--duration).", short))
    split = [f"{lv['label']}: " + ", ".join(f"repeat {r} {v}" for r, v in lv["replicate_verdicts"].items())
             for lv in load["levels"] if {"meets", "fails"} <= set(lv.get("replicate_verdicts", {}).values())]
    if split:
        findings.append(Finding("slo-repeats-disagree", "warning", f"{len(split)} levels have a repeat that meets "
                                "and one that fails on its own: their pooled verdict averages two different "
                                "behaviours (a drift over the run, a neighbour's load, a warm-up).",
                                "Compare the repeats (the replicate column) and find what differed before "
                                "trusting the pooled verdict; more repeats, in alternating order, tell a drift "
                                "from chance.", split))
    undecided = [lv["label"] for lv in load["levels"] if lv["verdict"] == "undecided"]
    if undecided:
        findings.append(Finding("slo-undecided", "info", f"{len(undecided)} levels are undecided: the interval of "
                                "their share of slow or failed requests straddles what the objective allows.",
                                "Measure them longer (more requests narrow the interval).", undecided))
    return findings


def build_report(bench: Benchmark, layout: Layout, plan: Plan, opts: Options, version: str | None,
                 files: list[str], filters: list[tuple[str, str, str]] | None = None) -> Report:
    opts = replace(opts, unit=resolve_unit(layout, opts.unit))
    within = within_key(layout, opts.within)
    where, params = row_filter(bench, layout, version, filters or [])
    groups = enumerate_groups(bench, layout, where, params)
    parts = partition(bench, layout, plan, groups, where, params)
    plan = with_values_seen(plan, parts.not_zero_one)
    try:
        excluded = [g for g in groups if layout.config and all(v is None for v in g.config)]
        kept = [g for g in groups if g not in excluded and g.rows]
        summaries = summarise_all(parts, kept, plan, opts)
        primary = plan.metrics[0] if plan.metrics else None
        strata: dict[tuple, list] = {}
        for s in summaries:
            strata.setdefault(s.group.versions, []).append(s)
        names = dict(zip([c.index for c in summaries],
                         short_labels([config_display(c, layout) for c in summaries]), strict=True))
        version_names = dict(zip(strata, short_labels([dict(zip(layout.versions, v, strict=True))
                                                       for v in strata]), strict=True))
        references = {} if opts.reference is None else {
            v: reference_index(configs, layout, names, opts.reference) for v, configs in strata.items()}
        if references and all(r is None for r in references.values()):
            raise unknown_reference(opts.reference, names)
        without_reference = [version_names[v] for v, r in references.items() if r is None]
        entries = []
        for versions, configs in strata.items():
            configs.sort(key=lambda c: _order_key(c, primary))  # stable: label order breaks ties
            comparisons = []
            if layout.input_id:
                for pos, metric in enumerate(plan.metrics):
                    reference = references.get(versions)
                    mode = "best" if opts.pairs == "reference" and reference is None else opts.pairs
                    pairs = pairs_to_compare(configs, metric, mode, reference, within)
                    comparisons += compare_pairs(parts, configs, metric, pos, opts, pairs)
            decide(comparisons, {m.name: m for m in plan.metrics}, opts)
            entries.append(stratum_entry(StratumInput(dict(zip(layout.versions, versions, strict=True)),
                                                      version_names[versions], configs, comparisons, names,
                                                      references.get(versions)),
                                         layout, plan, opts))
    finally:
        parts.close()
    load, load_series = None, []
    if layout.kind == "load" or opts.slo is not None:
        load, load_series = analyse_load(bench, layout, plan.latency, plan.latency_unit, opts.slo or [], where, params,
                            opts.alpha, opts.resamples, opts.seed)
    findings = count_findings(summaries, len(strata), layout, plan, excluded, opts.failures)
    if load is not None:  # a request table has no accuracy and no input id by design: its analysis is the load one
        findings = [f for f in findings if f.check_id not in ("no-metric", "no-item-id")] + load_findings(load)
    findings += coverage_findings(summaries, names, layout)
    findings += uneven_retries_findings(summaries, names)
    findings += latency_failure_findings(summaries, names, plan)
    findings += few_seeds_findings(summaries, layout, opts.unit)
    mixed = mixed_configuration_findings(bench, layout, summaries, names, where, params)
    if mixed:  # then the "repeats" and "retries" are rows of the other prompt: the error says what they are
        findings = [f for f in findings if f.check_id not in ("duplicates-counted-once", "retries-counted-once")]
    findings += mixed
    findings += non_finite_findings(summaries, names)
    findings += beyond_data_findings(summaries, names)
    findings += non_numeric_findings(bench, plan, where, params)
    if without_reference:
        findings.append(Finding("reference-missing", "warning", f"--reference {opts.reference!r} is not in "
                                f"version(s) {', '.join(without_reference)}; there each configuration is "
                                "compared with the best instead.", "Pick one version with --version VALUE."))
    if load is not None and load["capacity_needs_one_version"]:
        findings.append(Finding("slo-versions", "warning", "Several versions: no capacity is computed across "
                                "them.", "Pick one with --version VALUE."))
    report = Report(
        PROG,
        summary={"rows_inspected": sum(g.rows for g in groups), "files": files, "table": bench.table,
                 "versions": len(entries), "configurations": len(summaries)},
        findings=findings,
        inferred={"layout": layout.describe(), "measures": plan.describe()},
        sections={"options": {"confidence": opts.confidence, "alpha": opts.alpha, "adjust": opts.adjust,
                              "resamples": opts.resamples, "seed": opts.seed, "reference": opts.reference,
                              "pairs": opts.pairs, "family": opts.family, "failures": opts.failures,
                              "power": opts.power, "unit": opts.unit, "within": list(opts.within),
                              "items_needed": opts.items_needed},
                  "versions": entries, **({"slo": load} if load is not None else {})},
    )
    report.attachments["load_series"] = load_series
    return report


def main(argv: list[str] | None = None) -> int:
    def body(args: argparse.Namespace) -> int:
        paths, table = split_paths_and_table(args.paths, args.table)
        refuse_output_over_inputs({"--plot": args.plot, "--save": args.save}, paths)
        for option, out in (("--plot", args.plot), ("--save", args.save)):
            if out is not None and not out.parent.is_dir():
                raise InputError(f"{option}: folder {out.parent} does not exist")

        def report_with(engine: str) -> Report:
            with Benchmark(paths, table=table, engine=engine) as bench:
                for message in bench.notes:
                    note(PROG, message)
                bench.require_rows()
                layout = infer_layout(bench, args.input_col, args.config_cols)
                apply_pool(layout, args.pool)
                if args.kind != "auto":
                    layout.kind = args.kind
                if args.slo and layout.kind != "load":
                    raise InputError(slo_on_benchmark_table(layout))
                plan = build_plan(layout, bench.engine, args.metric, args.latency_col)
                named = args.pairs not in ("best", "all")
                opts = Options(confidence=1 - args.alpha, alpha=args.alpha, adjust=args.adjust,
                               resamples=args.resamples, seed=args.seed, reference=args.pairs if named else None,
                               pairs="reference" if named else args.pairs, family=args.family,
                               items_needed=args.items_needed, slo=args.slo, failures=args.failures,
                               unit=args.unit, within=tuple(args.within or ()))
                filters = parse_filters(args.filter, bench.column_names)
                report = build_report(bench, layout, plan, opts, args.version, [Path(p).name for p in paths],
                                      filters)
                report.summary["filters"] = filters_shown(filters)
                report.summary["engine"] = bench.engine
                return report

        choice = pick_engine(PROG, args.engine, paths, table)
        report = with_engine_fallback(choice.engine, report_with, lambda message: note(PROG, message))
        record_engine(report.summary, choice, report.summary["engine"])
        code = report.finish(args.fail_on)
        doc = report.as_dict()
        if args.plot is not None:
            try:
                if report.attachments.get("load_series"):
                    plot_load(doc, report.attachments["load_series"], args.plot)
                else:
                    plot(doc, args.plot)
            except (ValueError, OSError) as exc:
                raise InputError(f"--plot {args.plot}: {exc}") from exc
            print(f"{PROG}: wrote {args.plot}", file=sys.stderr)
        if args.save is not None:
            try:
                added = save_tables(doc, args.save)
            except (sqlite3.Error, OSError) as exc:
                raise InputError(f"--save {args.save}: {first_line(exc)}") from exc
            print(f"{PROG}: saved to {args.save}: " + ", ".join(f"{t} +{n} rows" for t, n in added.items()),
                  file=sys.stderr)
        if args.json:
            print(report.to_json())
        elif args.csv:
            sys.stdout.write(csv_text(doc))
        else:
            sys.stdout.write(markdown(doc))
        return code

    return run(PROG, build_parser(), body, argv, check=check_args)


if __name__ == "__main__":
    raise SystemExit(main())
