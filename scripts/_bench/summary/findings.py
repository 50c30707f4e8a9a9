"""export_summary's findings: what the data and the choices made of it mean for the numbers (counts, coverage,
failures, seeds, mixed or pooled configurations, values that cannot be averaged, load-test verdicts). Each
function takes the summaries (or the load analysis) and returns the findings it has, none when all is well."""

from __future__ import annotations

import math
import re
from datetime import datetime

from _bench.cli import Finding
from _bench.layout import Layout, strata
from _bench.reader import Benchmark
from _bench.sql import as_text, numeric, q
from _bench.summary.load import MS_PER, client_limited
from _bench.summary.plan import HIGHER_IS_BETTER, LOWER_IS_BETTER, Plan
from _bench.summary.scan import Group
from _bench.summary.slo import runs_cut_calls


def non_numeric_findings(bench: Benchmark, plan: Plan, where: str, params: list,
                         values_read: dict[str, list[int]]) -> list[Finding]:
    """A metric or latency column holding text that is not a number: a numpy scalar logged by xetrack 0.7.0
    becomes a 16-hex asset hash. (Numbers stored as text, after a first None typed the column TEXT, are read:
    sql.numeric.) `values_read`: [values, not numbers] per column, as the scan counted them (scan.number_checks);
    a column it did not count is counted here, with a pass of its own."""
    columns = [(m.name, m.sql) for m in plan.metrics if m.direction_from != "definition"]
    if plan.latency:
        columns.append((plan.latency, numeric(q(plan.latency), bench.engine)))
    out = []
    for name, sql in columns:
        if name in values_read:
            total, unreadable = values_read[name]
        else:
            total, numeric_count = bench.query(
                f"SELECT COUNT({q(name)}), COUNT({sql}) FROM {bench.VIEW}{where}", params)[0]
            unreadable = total - numeric_count
        if unreadable:
            glue = " AND " if where else " WHERE "
            examples = [r[0] for r in bench.query(
                f"SELECT DISTINCT {as_text(q(name))} FROM {bench.VIEW}{where}{glue}{q(name)} IS NOT NULL "
                f"AND ({sql}) IS NULL LIMIT 5", params)]
            out.append(Finding("non-numeric-metric", "warning",
                               f"{unreadable:,} of {total:,} values of {name!r} are not numbers and "
                               "were left out.",
                               "16-hex text is a xetrack asset hash: numpy scalars are stored as assets; log "
                               "float(x) instead, and read the stored ones back read-only into a copy "
                               "(duckdb-analysis.md). Other text is not a number either (numbers stored as text "
                               "are read as numbers).", examples, unreadable))
    return out


def metric_candidates(layout: Layout, plan: Plan) -> list[str]:
    """`--metric COL:direction` for each numeric outcome column a metric could be (not latency, tokens or
    cost, not an error or a bookkeeping time), the direction read from the name where the name says it."""
    measured = {plan.latency, plan.tokens, plan.cost}
    not_metric = re.compile(r"error|_time$|_ms$|_us$|_ns$|_s$|_seconds$|tokens|cost|bytes|_count$|_hash|status", re.I)
    names = [c for c in layout.roles.outcomes if layout.columns.get(c) in ("integer", "real")
             and c not in measured and not not_metric.search(c)]
    return [f"--metric {c}:lower" if LOWER_IS_BETTER.search(c) else f"--metric {c}:higher" if HIGHER_IS_BETTER.search(c)
            else f"--metric {c}:higher or :lower (the name does not say which)" for c in names]


def count_findings(summaries: list, strata: int, layout: Layout, plan: Plan, excluded: list[Group],
                   failures: str = "exclude") -> list[Finding]:
    findings = []
    base = len(layout.versions) - len(layout.slices)  # with --by, a stratum's key ends with its slice
    versions = len({s.group.versions[:base] for s in summaries}) if summaries else strata
    if versions > 1:
        findings.append(Finding("versions-separated", "info", f"{versions} versions found; each is reported on its "
                                "own and never pooled.", "Pick one with --version VALUE."))
    if layout.slices:
        slices = len({s.group.versions[base:] for s in summaries})
        findings.append(Finding("slices-separated", "info", f"{slices} slices of the inputs by "
                                f"{', '.join(layout.slices)} (--by), each reported on its own: its pairs are a family "
                                "of their own, so a difference found in one slice of many may be chance.",
                                "Quote how many slices were looked at beside a finding in one of them."))
    if not plan.metrics and plan.no_accuracy_from:  # trial P: a regression read 'accuracy 0 [0, 0]' per model
        findings.append(Finding("no-accuracy-for-fractions", "warning", "No metric: no accuracy is derived, as "
                                f"{plan.no_accuracy_from} holds numbers with fractions (a regression's predicted "
                                "values?), which almost never equal the truth exactly, and no --metric was given.",
                                "Score each example by its error: --metric abs_error:lower (any per-example "
                                "error column, lower is better)."))
    elif not plan.metrics and plan.latency_named and plan.latency:
        # asked for latency alone (the sklearn template's fit times): a summary of it, not a missing metric
        findings.append(Finding("latency-only", "info", f"No metric: a summary of {plan.latency} alone; nothing is "
                                "ranked or compared.", "Add --metric COL:higher (or :lower) to rank by one."))
    elif not plan.metrics:
        candidates = metric_candidates(layout, plan)
        suggestion = (f"Name one: {', '.join(candidates)}." if candidates
                      else "Name a numeric column: --metric COL:higher (or :lower).")
        findings.append(Finding("no-metric", "warning", "No metric found: no prediction/ground-truth pair and no "
                                "--metric, so nothing is ranked or compared.", suggestion))
    if plan.latency == "function_time" and not plan.latency_named:  # trial H read it as the fit time
        findings.append(Finding("latency-is-function-time", "info", "The latency shown is xetrack's function_time: "
                                "the whole tracked call (everything the tracked function did: for the sklearn "
                                "template a fit, its predictions and their scoring), as no latency column was "
                                "named or found.", "Name another with --latency-col COL (the sklearn template's "
                                "fit time: --latency-col fit_seconds --latency-of-replays)."))
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


def coverage_findings(summaries: list, names: dict[int, str], layout: Layout,
                      within: tuple[str, ...] = ()) -> list[Finding]:
    """Configurations of one version (and dataset) scored on different numbers of items: their estimates are over
    different sets (the paired comparisons are not: they use the shared items). Not for load tests (no items)."""
    if not layout.input_id or layout.kind == "load":
        return []
    # a dataset column (layout.strata), or a --within column (trial O: payload sizes with their own inputs): each
    # group has its own items, so only configurations of one compare
    grouped = list(dict.fromkeys([*strata(layout.config), *(c for c in within if c in layout.config)]))
    at = [layout.config.index(col) for col in grouped]
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
    calls, p_q is no longer what a caller waited (a timeout took at least its limit). Not with
    --failure-latency: the failures are then in the percentiles."""
    if not plan.latency or any(c.failures_counted_at is not None for c in summaries):
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
                    "Give failures their time with --failure-latency (a timeout: at least its limit, e.g. "
                    "--failure-latency 5s) so the percentiles cover every call, or report the failure rate beside "
                    "the latency.", examples)]


def replay_latency_findings(summaries: list, names: dict[int, str], plan: Plan) -> list[Finding]:
    """Rows replayed from a cache made no call, so latency percentiles leave them out; where they are many (a
    run replayed into a new --experiment-version, after a smoke run), the percentiles rest on few calls or none
    (trial N: six of eight configurations without a p95, no word said). Say how many, and what to do: count
    the replays' recorded latency when the column holds the original call's time, or use a column that does."""
    if not plan.latency:
        return []
    with_value, without_value = [], []
    for c in summaries:
        valued, empty = c.replays_not_timed
        rows = c.latency_n + valued + empty
        if rows and (valued + empty) >= 0.1 * rows:
            line = (f"{names[c.index]}: {valued + empty:,} of {rows:,} rows replayed, percentiles from "
                    f"{c.latency_n:,} calls")
            (with_value if valued >= empty else without_value).append(line)
    findings = []
    if with_value:
        findings.append(Finding("latency-without-replays", "warning", f"In {len(with_value)} configuration(s) the "
                                f"{plan.latency} percentiles leave out rows replayed from a cache (they made no call "
                                "now), so they rest on fewer calls than rows, or none.",
                                f"If {plan.latency} on a replayed row is the original call's time (the templates' "
                                "latency_s and fit_seconds are), add --latency-of-replays to count it.", with_value))
    if without_value:
        findings.append(Finding("latency-without-replays", "warning", f"In {len(without_value)} configuration(s) the "
                                f"{plan.latency} percentiles leave out rows replayed from a cache, and {plan.latency} "
                                "is empty on them, so they rest on fewer calls than rows, or none.",
                                "Use a latency column that replays carry (the LLM template's latency_s, not wait_s) "
                                "with --latency-of-replays, or summarise the version whose run made the calls.",
                                without_value))
    return findings


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


POOLED_RANKING_ROWS = 10  # scored rows of a configuration under one pooled value before its mean ranks anything


def pooled_ranking_findings(bench: Benchmark, layout: Layout, plan: Plan, summaries: list, names: dict[int, str],
                            where: str, params: list) -> list[Finding]:
    """--pool: when the best configuration is another one under each pooled value (model-a best with the concise
    prompt, model-c with the default), the pooled number averages different winners, and a pooled "no
    detectable difference" can hide a reversal. One GROUP BY (configuration, pooled values) of the primary
    metric's mean over the rows that did not fail: point estimates, to say where to look, not a test."""
    if not layout.pooled or not plan.metrics or len(summaries) < 2:
        return []
    metric = plan.metrics[0]
    keys, pooled = layout.versions + layout.config, layout.pooled
    cols = ", ".join(q(c) for c in keys + pooled)
    ok = f"NOT ({layout.failed})" if layout.error else "1 = 1"
    glue = " AND " if where else " WHERE "
    rows = bench.query(f"SELECT {cols}, AVG({metric.sql}), COUNT({metric.sql}) FROM {bench.VIEW}{where}{glue}{ok} "
                       f"GROUP BY {cols}", params)
    label_of = {tuple(c.group.versions + c.group.config): names[c.index] for c in summaries}
    best: dict = {}  # (versions, pooled values) -> (mean, labels of every configuration at that mean)
    for row in rows:
        config, value, mean, n = tuple(row[:len(keys)]), tuple(row[len(keys):-2]), row[-2], row[-1]
        if mean is None or config not in label_of or n < POOLED_RANKING_ROWS:
            continue  # a pooled value with a few rows (an id pooled over) ranks nothing
        at = (config[:len(layout.versions)], value)
        if at in best and math.isclose(mean, best[at][0], rel_tol=1e-12, abs_tol=1e-12):
            best[at][1].append(label_of[config])  # a tie (trial C: 0.917 and 0.917 read as "the best changes")
        elif at not in best or (mean > best[at][0] if metric.higher_is_better else mean < best[at][0]):
            best[at] = (mean, [label_of[config]])
    if len(best) < 2 or set.intersection(*(set(labels) for _, labels in best.values())):
        return []  # one configuration leads, or ties for the lead, under every pooled value
    shown = ", ".join(pooled)
    examples = [f"{', '.join(f'{c}={v}' for c, v in zip(pooled, value, strict=True))}: {' = '.join(sorted(labels))} "
                f"best ({metric.name} {mean:.4g})" for (_, value), (mean, labels) in sorted(best.items(), key=str)]
    return [Finding("pooled-rankings-differ", "warning", f"The best configuration changes with {shown} "
                    f"({'; '.join(e.split(' (')[0] for e in examples[:4])}): a number "
                    f"pooled over {shown} averages different winners, and a pooled 'no detectable difference' can "
                    "hide a reversal.", f"Compare within each {shown}: --config-cols with {shown} added and "
                    f"--within {shown} (point estimates here, not a test).", examples)]


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


BATCH_SPEED = 200  # rows written this many times faster than their calls took: no live run is that concurrent


def batch_written_findings(bench: Benchmark, layout: Layout, plan: Plan, summaries: list, names: dict[int, str],
                           where: str, params: list) -> list[Finding]:
    """--slo counts a run of consecutive broken rows as one stall, which is right only when the rows were
    logged as the calls ran. Where such runs cut the effective calls (slo.runs_cut_calls), compare how long
    the computed rows took to write (their timestamps) with how long their calls took (summed latency): rows
    written hundreds of times faster than the calls ran were written in one batch afterwards (a trial's
    imported results, sorted, failures last), and --rows-not-in-call-order is what they need. One GROUP BY,
    run only then."""
    judged = [c for c in summaries if c.slo and any(runs_cut_calls(k) for k in c.slo["clauses"])]
    if not judged or not plan.latency or "timestamp" not in layout.columns:
        return []
    keys = layout.versions + layout.config
    grouped = ", ".join(q(k) for k in keys) or "1"
    computed = f"{where} AND {layout.computed}" if where else f" WHERE {layout.computed}"
    stamp = as_text(q("timestamp"))
    sql = (f"SELECT {grouped}, MIN({stamp}), MAX({stamp}), SUM({numeric(q(plan.latency), bench.engine)}) "
           f"FROM {bench.VIEW}{computed} GROUP BY {grouped}")
    spans = {tuple(row[:len(keys)]): row[len(keys):] for row in bench.query(sql, params)}
    examples = []
    for c in judged:
        first, last, summed = spans.get(tuple(c.group.versions + c.group.config), (None, None, None))
        try:
            written_s = (datetime.fromisoformat(str(last)) - datetime.fromisoformat(str(first))).total_seconds()
        except ValueError:  # not xetrack's timestamps: nothing to compare
            continue
        took_s = (summed or 0) * MS_PER.get(plan.latency_unit or "ms", 1.0) / 1000
        if took_s > BATCH_SPEED * max(written_s, 0.001):
            examples.append(f"{names[c.index]}: {c.slo['clauses'][0]['calls']:,} calls took {took_s:,.1f} s "
                            f"in all, their rows were written within {written_s:.3f} s")
    if not examples:
        return []
    return [Finding("rows-written-at-once", "warning",
                    f"{len(examples)} configuration(s) have their rows written far faster than their calls ran: "
                    "most likely in one batch after the calls, perhaps sorted, so the runs of consecutive broken "
                    "rows that narrowed their --slo verdicts to few effective calls may say nothing about calls "
                    "slow together.",
                    "If the rows are not in the order the calls ran, add --rows-not-in-call-order; if a live run "
                    "logged them as each call ended, ignore this.", examples)]


FEW_SEEDS = 5  # below this many seeds, a cluster-robust t has fewer than 4 degrees of freedom


def unit_findings(summaries: list, layout: Layout, unit: str, remeasured: bool = False) -> list[Finding]:
    """What the tests resample, when rows repeat an input: `pooled` (--pool), `unit-input` (each input's mean),
    or `few-seeds`: seeds of independent runs on the same test items, where each comparison rests on one
    difference per seed. That interval reflects training randomness, not which test items were drawn (shared by
    every seed), and with few seeds it is both weak for real differences and, by chance, sometimes narrow."""
    if layout.pooled and summaries:
        pooled, over = ", ".join(layout.pooled), " and ".join([*layout.replicate, *layout.pooled])
        return [Finding("pooled", "info", f"Each configuration's numbers are pooled over {pooled} (--pool): its "
                        "metrics, latency percentiles and cost cover every value. Pairs match on the same "
                        f"{layout.input_id} and {pooled}; the unit is each {layout.input_id}'s mean over its {over} "
                        "values, so intervals and tests resample inputs.",
                        f"A pooled number weighs each {pooled} value by its rows; to see whether they differ, "
                        f"add {pooled} to --config-cols with --within"
                        + (f" and --unit input (without --pool the unit is the {layout.replicate[0]}: with few "
                           f"{layout.replicate[0]} values the tests then rest on one difference each, and can "
                           "disagree with these)." if layout.replicate else "."))]
    if not layout.replicate or layout.fold or layout.kind == "load" or not summaries:
        return []
    seeds = min(c.clusters for c in summaries)
    if remeasured:
        rep = layout.replicate[0]
        return [Finding("replicates-remeasure", "info", f"Every input scored the same in each of its {rep} values, "
                        f"in every configuration: the {rep} values re-measure (a time), they do not re-draw the "
                        f"scores. So each input ({layout.input_id}) is the unit and intervals and tests resample "
                        f"inputs; with {rep} as the unit every {rep} would have the same mean, and the intervals "
                        "no width.", f"--unit replicate makes {rep} the unit anyway. Latency percentiles use every "
                        "row, with each input's rows counted as alike (design effect).")]
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


def zero_width_findings(summaries: list, names: dict[int, str], layout: Layout) -> list[Finding]:
    """An interval with no width over two or more items: the unit (a replicate) shows no spread between its
    means, which says nothing about how certain the estimate is (5 timed repeats of a deterministic call)."""
    examples = [f"{names[c.index]}: {metric} {m.interval.estimate:.4g} [{m.interval.low:.4g}, {m.interval.high:.4g}] "
                f"on {m.n:,} items" for c in summaries for metric, m in c.metrics.items()
                if m.n >= 2 and m.interval.low == m.interval.high and m.interval.low == m.interval.low]
    if not examples:
        return []
    rep = layout.replicate[0] if layout.replicate else "the replicate"
    return [Finding("interval-without-width", "warning", f"{len(examples)} intervals have no width over two or more "
                    f"items: every {rep} has the same mean, so the test unit shows no spread, and the interval "
                    "claims a certainty the items do not give.", f"If the {rep} values re-measure the same answers "
                    "(timed repeats), --unit input makes each input the unit.", examples)]


HEAVY_TAIL = 5  # the largest 1 % of values holding 5x their even share of the total: a few items dominate


def beyond_data_findings(summaries: list, names: dict[int, str]) -> list[Finding]:
    """Intervals that reach past every value observed, with the cause each shows: a few extreme items that
    dominate the mean (a log loss interval below 0), or an estimate near the edge of its values with a
    symmetric interval over few units (a balanced accuracy interval above 1 at 15 folds)."""
    heavy, edge = [], []
    said_heavy: set[tuple[int, str]] = set()  # (configuration, metric) whose few extreme items are named here
    for c in summaries:
        for metric, m in c.metrics.items():
            if m.beyond_data:
                low, high, top = m.beyond_data
                iv = m.interval
                text = (f"{names[c.index]}: {metric} [{iv.low:.4g}, {iv.high:.4g}] vs observed [{low:.4g}, "
                        f"{high:.4g}]; the largest 1 % of its values hold {top:.0%} of the total")
                even = max(1, m.n // 100) / m.n if m.n else 1.0
                if top >= HEAVY_TAIL * even:
                    heavy.append(text)
                    said_heavy.add((c.index, metric))
                else:
                    edge.append(text)
    findings = []
    tails = [f"{names[c.index]}: {metric}: the largest {m.tail[0]:,} of {m.n:,} items hold {m.tail[1]:.0%} of "
             f"its total" for c in summaries for metric, m in c.metrics.items()
             if m.tail and (c.index, metric) not in said_heavy]
    if tails:
        findings.append(Finding(
            "mean-from-few-items", "warning", f"{len(tails)} means rest on a few items: the largest 1 % of the "
            "items hold a quarter or more of the metric's total, so the mean, its interval and its comparisons "
            "mostly say what those items did.", "Look at those items (ORDER BY the metric DESC); report the "
            "median or a bounded metric beside the mean (an accuracy, a Brier score), and say how many items "
            "carry the difference.", tails))
    if heavy:
        findings.append(Finding(
            "interval-beyond-data", "warning", f"{len(heavy)} intervals reach past every value observed: the "
            "fold or seed means spread widely because a few extreme items dominate the mean, so the interval is "
            "wide and its ends are not values the metric takes.",
            "Look at those items (ORDER BY the metric DESC); a bounded or rank-based metric (accuracy, Brier "
            "score, median) answers more stably. Comparisons of this metric stay valid but weak.", heavy))
    if edge:
        findings.append(Finding(
            "interval-beyond-data", "warning", f"{len(edge)} intervals reach past every value observed: the "
            "estimate lies near the edge of its values (an accuracy near 1) and the t interval, symmetric about "
            "it, is wide over few units (folds, seeds), so one end passes values the metric took; no few items "
            "dominate.", "When reporting, cap that end at the metric's own limit (1.0 for an accuracy) and say so; "
            "more folds, seeds or inputs narrow the interval. The comparisons test differences and stand as "
            "they are.", edge))
    return findings


def _behind_example(lv: dict) -> str:
    late = lv["sent_late"]
    evidence = "" if late.get("max_lag_ms") is None else (
        f" (lag up to {late['max_lag_ms']:.0f} ms; latency from the send itself, median "
        f"{late['median_from_send_ms']:.0f} ms)" if late.get("median_from_send_ms") is not None
        else f" (lag up to {late['max_lag_ms']:.0f} ms)")
    counted = "; from the send alone it fails too: the service's failure" if lv.get("from_send_verdict") == "fails" \
        else ""
    return (f"{lv['label']}: {lv['verdict']}, {late['requests']} of its {late['of']} broken requests sent more than "
            f"{late['after_ms']:g} ms late{evidence}{counted}")


def load_findings(load: dict) -> list[Finding]:
    findings = []
    if load["non_monotone"]:
        findings.append(Finding("slo-non-monotone", "warning", "Verdicts do not fall with the rate: "
                                f"{'; '.join(load['non_monotone'])}. The capacity is the highest meeting rate "
                                "below the first failing one.", "Re-measure those levels (--rerun), with a settle "
                                "time between levels, before trusting a capacity.", load["non_monotone"]))
    # trial I read "less than 5 s" beside "(5.0 s)": the requests' span is what counts, shown to the hundredth
    short = [f"{lv['label']} ({lv['window_s']:.2f} s of requests)" for lv in load["levels"] if lv["block_s"] < 1.0]
    if short:
        findings.append(Finding("slo-short-levels", "warning", f"{len(short)} levels are short for their intervals: "
                                "their blocks are shorter than 1 s (about 5 s of requests or less), so a stall can "
                                "span blocks and the intervals are rough.", "Measure each level for 30 s or more "
                                "(--duration); a search's short levels find the bracket, then measure its ends "
                                "longer before quoting them.", short))
    split = [f"{lv['label']}: " + ", ".join(f"repeat {r} {v}" for r, v in lv["replicate_verdicts"].items())
             for lv in load["levels"] if {"meets", "fails"} <= set(lv.get("replicate_verdicts", {}).values())]
    if split:
        findings.append(Finding("slo-repeats-disagree", "warning", f"{len(split)} levels have a repeat that meets "
                                "and one that fails on its own: their pooled verdict averages two different "
                                "behaviours (a drift over the run, a neighbour's load, a warm-up).",
                                "Compare the repeats (the replicate column) and find what differed before "
                                "trusting the pooled verdict; more repeats, in alternating order, tell a drift "
                                "from chance.", split))
    behind = [_behind_example(lv) for lv in load["levels"]
              if lv["verdict"] is not None and (client_limited(lv) or lv.get("from_send_verdict") == "fails")]
    if behind:  # trial W: a client at 88 % of a core "failed" a service at 7 %
        findings.append(Finding("slo-client-behind", "warning", f"{len(behind)} levels did not meet, and most of "
                                "the requests that broke the objective were sent late: the client fell behind its "
                                "schedule (its own CPU, or a machine shared with the service), so these levels "
                                "cannot tell the service's limit from the client's, and the capacity does not count "
                                "them; unless their latency from the send itself (the lag taken out) fails the "
                                "objective too: then the service was slow as well, and they fail as the service's.",
                                "Run the client on cores or a machine of its own "
                                "(compare the client's and the server's CPU in the template's levels table) to "
                                "measure those rates.", behind))
    undecided = [lv["label"] for lv in load["levels"] if lv["verdict"] == "undecided"]
    if undecided:
        findings.append(Finding("slo-undecided", "info", f"{len(undecided)} levels are undecided: the interval of "
                                "their share of slow or failed requests straddles what the objective allows.",
                                "Measure them longer (more requests narrow the interval).", undecided))
    return findings
