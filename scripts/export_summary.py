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
import json
import math
import re
import sqlite3
import sys
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
from _bench.layout import LOAD_SCHEDULE_NAMES, Layout, infer_layout, short_labels
from _bench.reader import Benchmark, EmptyBenchmark, InputError, first_line, with_engine_fallback
from _bench.sql import as_text, filters_shown, filters_sql, parse_filters, q
from _bench.summary.between import between_slices
from _bench.summary.compute import Options, compare_pairs, decide, pairs_to_compare, summarise_all
from _bench.summary.design import (
    TIMING,
    apply_pool,
    apply_slices,
    reference_in_each_group,
    replicates_only_remeasure,
    resolve_unit,
    stratified_by_slices,
    within_key,
)
from _bench.summary.findings import (
    batch_written_findings,
    beyond_data_findings,
    count_findings,
    coverage_findings,
    latency_failure_findings,
    load_findings,
    mixed_configuration_findings,
    non_finite_findings,
    non_numeric_findings,
    pooled_ranking_findings,
    replay_latency_findings,
    uneven_retries_findings,
    unit_findings,
    zero_width_findings,
)
from _bench.summary.leaders import slice_leaders
from _bench.summary.load import MS_PER, parse_slo
from _bench.summary.load import analyse as analyse_load
from _bench.summary.load_compare import compare_series
from _bench.summary.model import StratumInput, config_display, stratum_entry
from _bench.summary.plan import Plan, build_plan, fractional_prediction, with_values_seen
from _bench.summary.plan_only import plan_markdown, plan_only
from _bench.summary.reference import reference_index, unknown_reference
from _bench.summary.render import markdown, plot, plot_load
from _bench.summary.save import save as save_tables
from _bench.summary.scan import enumerate_groups, partition
from _bench.summary.tables import (
    comparisons_csv_text,
    csv_text,
    csv_wide_text,
    load_csv_text,
    series_comparisons_csv_text,
)
from _bench.summary.target import Target, check_targets, parse_target

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
  python scripts/export_summary.py bench.db predictions --csv --wide > results.csv   # one row per configuration
  python scripts/export_summary.py bench.db predictions --pairs all --csv --comparisons > pairs.csv  # per pair

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
                             "columns (or is the mean of a 0/1 'correct' column) and added automatically, unless "
                             "the prediction holds numbers with fractions (a regression: name its error column); "
                             "--metric accuracy:higher puts it first. --metric correct, when accuracy is the mean "
                             "of that column, is the same metric and is reported once, as accuracy")
    parser.add_argument("--latency-col", metavar="COL", help="latency column (default: latency_ms, latency, ... "
                        "or xetrack's function_time)")
    parser.add_argument("--latency-per-input", choices=("median", "min", "mean"), metavar="median|min|mean",
                        help="with repeated timings of each input: take each input's median (or min, mean) first, "
                             "then the percentiles and their intervals over inputs (one value each)")
    parser.add_argument("--failure-latency", type=_duration_ms, metavar="DURATION",
                        help="count each failed call in the latency percentiles at this time (e.g. 5s, 5000ms: "
                             "a timeout, at least its limit; a longer recorded time is kept; 0s: its own recorded "
                             "time), so p95 is what callers waited, failures included")
    parser.add_argument("--latency-of-replays", action="store_true",
                        help="count the latency of rows replayed from a cache (by default they timed nothing): for "
                             "a column that holds the original call's time, such as the templates' latency_s and "
                             "fit_seconds, when a run replayed earlier calls into a new version; --slo still "
                             "judges computed calls only")
    parser.add_argument("--rows-not-in-call-order", action="store_true",
                        help="with --slo: the rows were not logged in the order the calls ran (a batch written "
                             "afterwards, sorted), so runs of consecutive broken rows are not taken as one stall; "
                             "an input's calls still count as alike")
    parser.add_argument("--version", metavar="VALUE", help="report only rows whose version column "
                        "(experiment_version, git hash, ...) equals VALUE")
    parser.add_argument("--pairs", metavar="best|all|none|CONFIG", default="best",
                        help="which pairs to compare: 'best' (default: every configuration against the best), "
                             "'all' (every pair, k(k-1)/2, judged in one multiplicity family per metric), 'none' "
                             "(the per-configuration tables alone, e.g. repeated runs each judged by --slo), or a "
                             "CONFIG to compare every other one with ('is X better than Y?'): the label the report "
                             "prints, e.g. 'model=svm', the full key, or a config_id value; an unknown value is an "
                             "error listing the labels")
    parser.add_argument("--reference", metavar="CONFIG", help="the same as --pairs CONFIG (kept for scripts)")
    parser.add_argument("--within", metavar="A,B", type=comma_list,
                        help="compare only configurations with the same values of these configuration columns: "
                             "with --pairs all, every pair within each group; with best, each against its group's "
                             "best; with --pairs COL=VALUE, each against its group's COL=VALUE. E.g. --config-cols "
                             "model,prompt --pairs all --within model: each model's prompts; --config-cols "
                             "model,track_id --within model: each model across runs; --pairs retriever=bm25 "
                             "--within dataset: each retriever against bm25 on its own dataset")
    parser.add_argument("--by", metavar="A,B", type=comma_list,
                        help="report each value of these columns on its own: a slice of the inputs (a category, a "
                             "language, a difficulty), with every table, pair and verdict per slice and a column "
                             "per slice in the CSVs. Each slice's pairs are a family of their own: with more slices, "
                             "a finding by chance in one of them is likelier. One slice alone: --filter COL=VALUE")
    parser.add_argument("--family", choices=("metric", "all"), default="metric",
                        help="which p-values are adjusted together: each metric's comparisons (default), or all "
                             "comparisons of a version at once (stricter: adding a metric then changes every p)")
    parser.add_argument("--filter", action="append", metavar="COL=VALUE",
                        help="summarise only rows where COL equals VALUE, or with COL!=VALUE differs from it "
                             "(compared as text); repeatable: all must hold, but COL=VALUE more than once for one "
                             "column keeps any of those values, e.g. --filter model=old_best --filter model=new for "
                             "one planned pair, --filter track_id!=run-b to leave a later re-run out")
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
                             "ones). auto (default): input for a sample_idx, sample_index or integer sample column, else "
                             "replicate")
    parser.add_argument("--slo", metavar="OBJECTIVE", type=_slo,
                        help="a service-level objective, e.g. 'p99<50ms', 'p95<40us' or 'p95<0.2s, errors<1%%' "
                             "(clauses separated by commas, spaces optional; all must hold): the share of calls that broke it with an interval and a "
                             "verdict (meets / fails / undecided), per configuration; on a load test per level, "
                             "with the highest rate that meets")
    parser.add_argument("--target", action="append", metavar="METRIC>=VALUE", type=_target,
                        help="a bar each configuration must reach, e.g. 'correct_strict>=0.85', 'accuracy>=85%%' or "
                             "'abs_error<3.5' (>= <= > <; repeatable): per configuration meets / fails / undecided from its "
                             "metric's interval, and which configurations meet every target, cheapest first")
    parser.add_argument("--kind", choices=("auto", "load", "benchmark"), default="auto",
                        help="what the table is: auto (default: a load test when it has a latency beside when each "
                             "request was due, e.g. scheduled_s), load, or benchmark")
    parser.add_argument("--items-needed", type=float, metavar="DELTA",
                        help="plan from a pilot: for every comparison, how many items (or seeds, or "
                             "cross-validation folds) a true difference of DELTA (in the metric's units, e.g. "
                             "0.02 for two accuracy points) needs for 80%% power at the alpha its family leaves")
    parser.add_argument("--plan-only", action="store_true",
                        help="with --items-needed: print only what each comparison needs, none of the pilot's "
                             "estimates, differences or p-values, so the full size is chosen before the results "
                             "are read (a p read early and acted on is optional stopping); with --json as JSON. "
                             "With the default --pairs best it plans every pair: each against the pilot's best "
                             "would name the best")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level; intervals are "
                        "(1 - alpha) (default: 0.05, 95%% intervals)")
    parser.add_argument("--adjust", choices=("holm", "bh", "none"), default="holm",
                        help="multiple-comparison adjustment of p-values (default: holm)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default: 2000)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="print a CSV table (one row per configuration and "
                     "metric, and per comparison; each parameter in a column of its own; for a load test, one row "
                     "per level with its verdicts) instead of Markdown")
    parser.add_argument("--wide", action="store_true", help="with --csv: one row per configuration, each metric's "
                        "estimate, interval, difference from the best (or --pairs CONFIG) with its interval, "
                        "adjusted p and verdict side by side: a results table")
    parser.add_argument("--comparisons", action="store_true", help="with --csv: one row per comparison (pair x "
                        "metric) and nothing else: both sides' parameters, the difference with its interval, "
                        "p, adjusted p, verdict (with --pairs all: every pair)")
    parser.add_argument("--plot", metavar="FILE.png", type=Path, help="also draw each metric with its "
                        "interval per configuration; for a load test, latency over time per level with the SLO "
                        "thresholds")
    parser.add_argument("--save", metavar="OUT.db", type=Path,
                        help="also write the results as SQLite tables `summary` (configuration x metric) and "
                             "`comparisons` (pair x metric) into OUT.db (created if missing; never one of the "
                             "inputs). Saving unchanged results again adds no rows; changed results add rows "
                             "and the latest save wins: see references/analysis.md")
    return parser


def _duration_ms(text: str) -> float:
    """'5s', '5000ms', '250us' -> milliseconds; an argparse type, so bad input is one usage line."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|ms|us|µs|ns)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration with its unit (5s, 5000ms, 250us), got {text!r}")
    return float(m.group(1)) * MS_PER[m.group(2)]


def _target(text: str) -> Target:
    try:
        return parse_target(text)
    except InputError as exc:  # argparse turns this into its one-line usage error
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--target: ")) from None


def _slo(text: str) -> list:
    try:
        return parse_slo(text)
    except InputError as exc:  # argparse turns this into its one-line usage error
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--slo: ")) from None


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse cannot say by itself; each a usage error (one line, exit 2)."""
    if args.json and args.csv:
        parser.error("--json and --csv cannot be combined")
    if args.wide and not args.csv:
        parser.error("--wide shapes the CSV table: give --csv --wide")
    if args.comparisons and not args.csv:
        parser.error("--comparisons shapes the CSV table: give --csv --comparisons")
    if args.comparisons and args.wide:
        parser.error("--wide and --comparisons are two different tables: give one")
    if not 0 < args.alpha < 0.5:
        parser.error("--alpha must be between 0 and 0.5")
    if args.resamples < 100:
        parser.error("--resamples must be at least 100")
    if args.items_needed is not None and not args.items_needed > 0:
        parser.error("--items-needed must be a positive difference, e.g. 0.02")
    if args.plan_only and (args.items_needed is None or args.csv or args.save or args.plot):
        parser.error("--plan-only prints the plan of --items-needed DELTA, as Markdown or --json; it does not go "
                     "with --csv, --save or --plot, which show the results")
    if args.reference is not None:
        if args.pairs not in ("best", args.reference):
            parser.error(f"--reference {args.reference!r} and --pairs {args.pairs!r} disagree; give one of them")
        args.pairs = args.reference
    if args.plan_only and args.pairs == "best":  # blind by construction (trial M's plan named the pilot's leader)
        args.pairs = "all"


# A load test's report is its level table: findings about items, right/wrong metrics and per-configuration
# percentiles do not apply (its verdicts count failed requests as broken; its percentiles are the answered ones)
LOAD_IRRELEVANT = ("no-metric", "no-item-id", "failures-excluded", "latency-without-failures")


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


def _order_key(c, metric) -> tuple:
    """Best first by the primary metric; configurations without an estimate (no values, or values too large
    to average) last."""
    est = math.nan if metric is None else c.metrics[metric.name].interval.estimate
    if metric is None or c.metrics[metric.name].n == 0 or math.isnan(est):
        return (1, 0.0)
    return (0, -est if metric.higher_is_better else est)


def slo_refusal(layout: Layout, plan: Plan, clauses: list, kind: str) -> str | None:
    """Why --slo cannot judge this table per configuration, or None when it can."""
    if kind == "auto" and any(c in layout.columns for c in LOAD_SCHEDULE_NAMES):
        return ("--slo: this table records when each request was due, like a load test's request table, but no "
                "latency was found beside it: pass --kind load (and --latency-col COL if the latency is not found)")
    latency = [c.text for c in clauses if c.kind == "latency"]
    if latency and plan.latency is None:
        return (f"--slo {', '.join(latency)} needs a latency column: none is named like one (latency_ms, "
                "latency_us, duration_ms, ...) and there is no function_time; name it with --latency-col COL")
    return None


def build_report(bench: Benchmark, layout: Layout, plan: Plan, opts: Options, version: str | None,
                 files: list[str], filters: list[tuple[str, str, str]] | None = None) -> Report:
    auto = opts.unit == "auto"
    opts = replace(opts, unit=resolve_unit(layout, opts.unit))
    within = within_key(layout, opts.within)
    where, params = row_filter(bench, layout, version, filters or [])
    layout = stratified_by_slices(layout)  # after --version, which matches version columns only
    groups = enumerate_groups(bench, layout, where, params)
    parts = partition(bench, layout, plan, groups, where, params)
    plan = with_values_seen(plan, parts.not_zero_one)
    values_read = parts.values_read
    remeasured = False
    try:
        excluded = [g for g in groups if layout.config and all(v is None for v in g.config)]
        kept = [g for g in groups if g not in excluded and g.rows]
        if auto and opts.unit == "replicate" and layout.replicate and layout.input_id and not layout.fold \
                and plan.metrics:
            scores = [i for i, m in enumerate(plan.metrics) if not TIMING.search(m.name)]
            remeasured = bool(scores) and replicates_only_remeasure(parts, kept, scores)
            if remeasured:
                opts = replace(opts, unit="input")
        summaries = summarise_all(parts, kept, plan, opts)
        primary = plan.metrics[0] if plan.metrics else None
        strata: dict[tuple, list] = {}
        for s in summaries:
            strata.setdefault(s.group.versions, []).append(s)
        names = dict(zip([c.index for c in summaries],
                         short_labels([config_display(c, layout) for c in summaries]), strict=True))
        version_names = dict(zip(strata, short_labels([dict(zip(layout.versions, v, strict=True))
                                                       for v in strata]), strict=True))
        per_group = within is not None and opts.reference is not None  # --pairs retriever=bm25 --within dataset
        # a load test's --pairs names the reference series (compare_series), not a configuration of rate and setting
        references = {} if opts.reference is None or per_group or layout.kind == "load" else {
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
                    pairs = (reference_in_each_group(configs, layout, within, opts.within, opts.reference)
                             if per_group else pairs_to_compare(configs, metric, mode, reference, within))
                    comparisons += compare_pairs(parts, configs, metric, pos, opts, pairs)
            decide(comparisons, {m.name: m for m in plan.metrics}, opts)
            entries.append(stratum_entry(StratumInput(dict(zip(layout.versions, versions, strict=True)),
                                                      version_names[versions], configs, comparisons, names,
                                                      references.get(versions)),
                                         layout, plan, opts))
        if per_group and layout.input_id and plan.metrics and not any(e["comparisons"] for e in entries):
            raise unknown_reference(opts.reference, names)
    finally:
        parts.close()
    load, load_series = None, []
    if layout.kind == "load":
        load, load_series = analyse_load(bench, layout, plan.latency, plan.latency_unit, opts.slo or [], where, params,
                            opts.alpha, opts.resamples, opts.seed)
        load["series_comparisons"] = compare_series(load["levels"], load["series"], opts.reference)
    findings = count_findings(summaries, len(strata), layout, plan, excluded, opts.failures)
    findings += coverage_findings(summaries, names, layout, opts.within)
    findings += uneven_retries_findings(summaries, names)
    findings += latency_failure_findings(summaries, names, plan)
    findings += replay_latency_findings(summaries, names, plan)
    findings += unit_findings(summaries, layout, opts.unit, remeasured)
    findings += pooled_ranking_findings(bench, layout, plan, summaries, names, where, params)
    if opts.call_order:
        findings += batch_written_findings(bench, layout, plan, summaries, names, where, params)
    mixed = mixed_configuration_findings(bench, layout, summaries, names, where, params)
    if mixed:  # then the "repeats" and "retries" are rows of the other prompt: the error says what they are
        findings = [f for f in findings if f.check_id not in ("duplicates-counted-once", "retries-counted-once")]
    findings += mixed
    findings += non_finite_findings(summaries, names)
    findings += beyond_data_findings(summaries, names)
    findings += zero_width_findings(summaries, names, layout)
    findings += non_numeric_findings(bench, plan, where, params, values_read)
    if without_reference:
        findings.append(Finding("reference-missing", "warning", f"--pairs {opts.reference!r} is not in "
                                f"version(s) {', '.join(without_reference)}; there each configuration is "
                                "compared with the best instead.", "Pick one version with --version VALUE."))
    if load is not None:  # a request table has no accuracy and no input id by design: its analysis is the load one
        findings = [f for f in findings if f.check_id not in LOAD_IRRELEVANT] + load_findings(load)
    if load is not None and load["versions_differ"]:
        findings.append(Finding("slo-versions", "warning", "The levels were measured in several versions ("
                                f"{', '.join(load['versions_differ'])} differ): each version's levels have their own "
                                "capacity, none is computed across them.", "If the change did not touch what is "
                                "measured (a commit of a log file), the levels still belong together; to report one "
                                "version, give --version VALUE (a value of any version column, e.g. a git commit)."))
    leaders = slice_leaders(entries, plan.metrics[0].name) if layout.slices and plan.metrics else None
    between = between_slices(entries, plan.metrics[0].name, list(opts.by), opts.alpha, opts.adjust) \
        if layout.slices and plan.metrics else None
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
                              "items_needed": opts.items_needed, "targets": [t.text for t in opts.targets],
                              **({"by": list(opts.by)} if opts.by else {})},
                  "versions": entries, **({"slo": load} if load is not None else {}),
                  **({"slice_leaders": leaders} if leaders else {}),
                  **({"between_slices": between} if between else {})},
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
                layout = infer_layout(bench, args.input_col, args.config_cols, args.replicate_cols)
                apply_pool(layout, args.pool)
                if args.kind != "auto":
                    layout.kind = args.kind
                apply_slices(layout, args.by)
                plan = build_plan(layout, bench.engine, args.metric, args.latency_col,
                                  fractional_prediction(bench, layout))
                if args.latency_per_input and not (layout.replicate and layout.input_id):
                    raise InputError("--latency-per-input needs repeated rows of an input: an input id and a "
                                     "replicate column (repeat, seed, sample_idx, ...; --replicate-cols COL names one)")
                per_configuration = bool(args.slo) and layout.kind != "load"
                if layout.kind == "load" and (args.pairs == "all" or args.within):  # trial B: silently ignored
                    note(PROG, "--pairs all and --within compare a benchmark's configurations; a load test's series "
                               "are compared at the rates they share (with --slo: 'Series compared with ...'), with "
                               "the first series or the one --pairs COL=VALUE names")
                refusal = slo_refusal(layout, plan, args.slo, args.kind) if per_configuration else None
                if refusal:
                    raise InputError(refusal)
                named = args.pairs not in ("best", "all", "none")
                opts = Options(confidence=1 - args.alpha, alpha=args.alpha, adjust=args.adjust,
                               resamples=args.resamples, seed=args.seed, reference=args.pairs if named else None,
                               pairs="reference" if named else args.pairs, family=args.family,
                               items_needed=args.items_needed, slo=args.slo, slo_per_configuration=per_configuration,
                               failures=args.failures,
                               unit=args.unit, within=tuple(args.within or ()), by=tuple(layout.slices),
                               latency_per_input=args.latency_per_input, failure_latency_ms=args.failure_latency,
                               latency_of_replays=args.latency_of_replays,
                               call_order=not args.rows_not_in_call_order, targets=tuple(args.target or ()))
                check_targets(list(opts.targets), [m.name for m in plan.metrics])
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
        if args.plan_only:  # trial M read the pilot's size from --json to stay blind to its p-value
            plan = plan_only(doc)
            sys.stdout.write(json.dumps(plan, indent=2) + "\n" if args.json else plan_markdown(plan, doc))
        elif args.json:
            print(report.to_json())
        elif args.csv:
            # a load test's table is its levels (one row each, --wide or not): what its verdicts are about; its
            # comparisons are its series' at the rates they share
            load_table = series_comparisons_csv_text if args.comparisons else load_csv_text
            sys.stdout.write(load_table(doc) if doc.get("slo") else csv_wide_text(doc) if args.wide
                             else comparisons_csv_text(doc) if args.comparisons else csv_text(doc))
        else:
            sys.stdout.write(markdown(doc))
        return code

    return run(PROG, build_parser(), body, argv, check=check_args)


if __name__ == "__main__":
    raise SystemExit(main())
