"""The finished summary as plain data: one stable, JSON-ready dictionary that every output format renders.

Numbers are rounded here, once (estimates to 6 decimals, p-values to 4 significant digits), so the Markdown,
CSV, JSON and picture agree and golden-output tests are byte-stable.

The document (`--json`, schema_version 2; the shared fields are _bench/cli.py's): schema_version, tool, status,
fail_on, counts, summary {rows_inspected, files, table, versions, configurations, filters (each --filter COL=VALUE)}, findings[] (check_id,
severity, message, hint, examples, examples_omitted), inferred {layout, measures}, options {confidence, alpha,
adjust, resamples, seed, reference, pairs, family, power, items_needed}, and versions[]: one per version, never
pooled, each with
- version {column: value}, label, rows, reference (the --pairs CONFIG configuration's label, or null),
  headline (one sentence for a PR);
- configurations[] in rank order: rank (competition ranking by the primary metric: equal estimates share a
  rank, 1, 1, 3), tied, label, configuration, parameters, rows, items, inputs and replicates (with replicate
  columns: distinct inputs and seeds behind the items, else null), failed, replays_used, replays_dropped,
  duplicates_dropped (repeated successes), retries_superseded (failed rows of an item that also succeeded: not
  counted), failures_repeated (further failed rows of an item that never succeeded), clusters,
  test_train_ratio (repeated k-fold CV: n_test / n_train, else null),
  metrics {name: {n, inputs, replicates, estimate, ci_low, ci_high, interval}}, latency {column, unit, n, p50,
  p95, p99} or null, tokens, cost, cost_per_item (cost over the items), cost_per_right {metric, estimate,
  ci_low, ci_high} (the scored rows' spend over the primary right/wrong metric's right answers; the interval from
  that rate's, the spend fixed) or null; with --target, targets [{target, metric, op, value, estimate, ci_low,
  ci_high, verdict, items_to_decide}] (target.py);
- comparisons[] (each configuration against the best or the reference, or every pair with --pairs all; per
  metric): metric, rank, configuration, reference_rank, reference, shared_items, only_reference, only_other,
  delta (configuration - reference), ci_low, ci_high (unadjusted), effect_size {name, value, magnitude (null for
  0/1 metrics)}, discordant [b, c] (0/1), test, interval, p_value, p_adjusted, family and family_size (the
  p-values adjusted together), detectable {difference, power, alpha, conservative, method, note} (the smallest
  true difference the test detects with 80% power at the alpha its family leaves), needed (--items-needed),
  verdict ('better' | 'worse' | 'no detectable difference' | 'not comparable'), which follows p_adjusted,
  ranks_disagree (a signed-rank p below alpha whose ranks lean against the mean difference: no verdict);
- families[]: name, size, members (which comparisons were adjusted together).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from _bench.layout import Layout, fold_sample_size, items_are_folds, replicate_unit, unpacked
from _bench.layout import sample_size as layout_sample_size
from _bench.stats import effect_size_label
from _bench.summary.compute import (
    BETTER,
    NO_DIFFERENCE,
    NOT_COMPARABLE,
    WORSE,
    Comparison,
    ConfigSummary,
    Options,
)
from _bench.summary.plan import Plan
from _bench.summary.target import judge_configurations

TEST_NAMES = {"mcnemar-exact": "McNemar exact", "wilcoxon": "Wilcoxon signed-rank",
              "cluster-robust-t": "cluster-robust t", "corrected-resampled-t": "corrected resampled t"}
MAX_LISTED = 3


def r6(x: float | None) -> float | None:
    """Six decimals, or below 0.01 six significant digits: a cost of $0.000169 a call keeps its digits."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if abs(x) < 0.01:
        return float(f"{float(x):.6g}") + 0.0
    return round(float(x), 6) + 0.0  # + 0.0 turns -0.0 into 0.0


def _alone(needed) -> dict:
    """--items-needed for one pair tested on its own (at alpha, no family): a fresh confirmatory run."""
    if needed is None:
        return {"count_alone": None, "inputs_needed_alone": None}
    return {"count_alone": needed.count, "inputs_needed_alone": needed.inputs}


def rp(p: float | None) -> float | None:
    if p is None or math.isnan(p):
        return None
    return float(f"{p:.4g}")


@dataclass
class StratumInput:
    versions: dict
    label: str
    configs: list[ConfigSummary]  # in report order (best first by the primary metric)
    comparisons: list[Comparison]
    labels: dict[int, str]  # ConfigSummary.index -> how the configuration is named
    reference: int | None = None  # --reference's ConfigSummary.index in this version; None: against the best


def config_entry(c: ConfigSummary, layout: Layout, plan: Plan, rank: int, name: str) -> dict:
    g = c.group
    entry = {
        "rank": rank,
        "tied": False,  # set once every rank is known
        "label": name,
        "configuration": dict(zip(layout.config, g.config, strict=True)),
        "parameters": dict(g.parameters),
        "rows": g.rows, "items": c.items, "inputs": c.inputs, "replicates": c.replicates, "failed": c.failed,
        "replays_used": c.replays_used, "replays_dropped": c.replays_dropped,
        "duplicates_dropped": c.duplicates_dropped, "retries_superseded": c.retries_superseded,
        "failures_repeated": c.failures_repeated,
        "clusters": c.clusters,
        "test_train_ratio": r6(c.test_train_ratio),
        "metrics": {name: {"n": m.n, "inputs": m.inputs, "replicates": m.replicates,
                           "estimate": r6(m.interval.estimate), "ci_low": r6(m.interval.low),
                           "ci_high": r6(m.interval.high), "interval": m.interval.method}
                    for name, m in c.metrics.items()},
        "latency": ({"column": plan.latency, "unit": plan.latency_unit, "n": c.latency_n,
                     "per_input": c.latency_per_input, "failures_counted_at": r6(c.failures_counted_at),
                     **{k: r6(v) for k, v in c.latency.items()},
                     **{f"{k}_ci": [None if v is None else r6(v) for v in ci] for k, ci in c.latency_ci.items()}}
                    if plan.latency else None),
        "tokens": r6(c.tokens), "cost": r6(c.cost),
        # trial Z2 wanted cost per ticket: the total over the items (each item's one counted row)
        "cost_per_item": r6(c.cost / c.items) if c.cost is not None and c.items else None,
        "cost_per_right": _cost_per_right(c, plan),
        **({"slo": {"verdict": c.slo["verdict"], "clauses": [{k: r6(v) if isinstance(v, float) else v
                                                             for k, v in cl.items()} for cl in c.slo["clauses"]]}}
           if c.slo is not None else {}),
    }
    return entry


def _cost_per_right(c: ConfigSummary, plan: Plan) -> dict | None:
    """The spend of the scored rows over their right answers (rows, not the n of the interval: under --unit
    input n counts inputs, each the mean of its samples), for a right/wrong primary metric. The interval
    scales the right answers by the rate interval's relative bounds (the spend taken as fixed); ci_high is
    null when that interval reaches 0."""
    if c.cost is None or not plan.metrics or not plan.metrics[0].right_or_wrong:
        return None
    m = c.metrics[plan.metrics[0].name]
    rate = m.interval.estimate
    if m.n == 0 or not rate or math.isnan(m.total):
        return None

    def per(bound: float | None) -> float | None:
        right = m.total * bound / rate if bound is not None and not math.isnan(bound) else math.nan
        return None if math.isnan(right) or right <= 0 else r6(c.cost / right)

    return {"metric": plan.metrics[0].name, "estimate": per(rate), "ci_low": per(m.interval.high),
            "ci_high": per(m.interval.low)}


def config_display(c: ConfigSummary, layout: Layout) -> dict:
    """What names a configuration: its parameters beside a config_id, else its key columns; structured values
    (JSON hyperparameters) by their own names (layout.unpacked)."""
    g = c.group
    if layout.config_from == "config_id" and g.parameters and any(v is not None for v in g.parameters.values()):
        return unpacked(dict(g.parameters))
    return unpacked(dict(zip(layout.config, g.config, strict=True)))


def _make_labels_unique(configs: list[dict]) -> None:
    """Two configurations can show the same parameters (a field that is not a column): add their key."""
    seen: dict[str, int] = {}
    for c in configs:
        seen[c["label"]] = seen.get(c["label"], 0) + 1
    for position, c in enumerate(configs, start=1):
        if seen[c["label"]] > 1:
            key = ", ".join(f"{k}={v}" for k, v in c["configuration"].items()) or f"#{position}"
            c["label"] = f"{c['label']} [{key}]"


def comparison_entry(comp: Comparison, labels: dict[int, str], ranks: dict[int, int]) -> dict:
    res = comp.result
    dz = res.effect_size if res else None
    return {
        "metric": comp.metric, "rank": ranks[comp.other], "configuration": labels[comp.other],
        "reference_rank": ranks[comp.reference], "reference": labels[comp.reference],
        "shared_items": res.n if res else 0, "only_reference": comp.only_reference, "only_other": comp.only_other,
        "delta": r6(res.delta) if res else None, "ci_low": r6(res.low) if res else None,
        "ci_high": r6(res.high) if res else None,
        # On 0/1 outcomes d_z divides by the spread of -1/0/+1 differences, which is large whenever the two
        # disagree at all: halving a 4% error rate reads as "negligible". The size words are for scores only.
        "effect_size": {"name": "cohens_dz", "value": r6(dz),
                        "magnitude": None if comp.binary else effect_size_label(dz)},
        "discordant": list(res.discordant) if res and res.discordant else None,
        "test": res.test if res else None, "interval": res.interval_method if res else None,
        "p_value": rp(res.p_value) if res else None, "p_adjusted": rp(comp.p_adjusted),
        "family": comp.family, "family_size": comp.family_size,
        "detectable": _detectable(comp),
        "needed": None if comp.needed is None else {"count": comp.needed.count, "unit": comp.needed.unit,
                                                     "explanation": comp.needed.explanation,
                                                     "data_factor": r6(comp.needed.data_factor),
                                                     "inputs_needed": comp.needed.inputs,
                                                     **_alone(comp.needed_alone)},
        "verdict": comp.verdict,
        "ranks_disagree": comp.ranks_disagree,
    }


def _detectable(comp: Comparison) -> dict | None:
    """The smallest true difference this comparison's test would detect with 80 % power, at the alpha its
    family leaves (alpha/m under Holm or BH: conservative for all but the family's smallest p)."""
    m = comp.detectable
    if m is None:
        return None
    return {"difference": r6(m.delta), "power": m.power, "alpha": rp(m.alpha),
            "conservative": comp.conservative,
            "method": m.method, "note": m.note or None}


def families(comparisons: list[dict]) -> list[dict]:
    """The multiplicity families of one version: which comparisons' p-values were adjusted together."""
    out: dict[str, dict] = {}
    for c in comparisons:
        f = out.setdefault(c["family"], {"name": c["family"], "size": c["family_size"], "members": []})
        if c["p_value"] is not None:
            f["members"].append(f"{c['metric']}: {c['configuration']} vs {c['reference']}")
    return list(out.values())


def fmt(x: float | None, digits: int = 3, scale: float | None = None) -> str:
    """Three decimals; when the value (or `scale`, the largest magnitude of the numbers shown beside it) is below
    0.01, enough decimals for three significant digits: a cost of 0.000169 a call is not 0.000, and an interval
    keeps one precision (0.00102 [0.00101, 0.00103], but -0.013 [-0.033, 0.006])."""
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    size = abs(x) if scale is None else scale
    if 0 < size < 0.01:
        digits = 2 - math.floor(math.log10(size))
    return f"{x:.{digits}f}"


def fmt_interval(estimate: float | None, low: float | None, high: float | None) -> str:
    """`estimate [low, high]` at one precision."""
    scale = max((abs(v) for v in (estimate, low, high) if v is not None), default=None)
    return f"{fmt(estimate, scale=scale)} [{fmt(low, scale=scale)}, {fmt(high, scale=scale)}]"


def fmt_p(p: float | None) -> str:
    """Three decimals; below 0.001 two significant digits (5.7e-05), since a ranking of strong differences
    needs them; below 1e-300 the test's arithmetic ran out of range, so only the bound is said."""
    if p is None:
        return "-"
    if p < 1e-300:
        return "<1e-300"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def sample_size(m: dict, unit: str, per_input: bool = False, folds: bool = False) -> str:
    """The one way every script states a sample size (see layout.sample_size); under --unit input the n are
    inputs, each the mean of its replicates; with `folds` (layout.items_are_folds) the items are folds."""
    if folds:
        return fold_sample_size(m["n"], m.get("replicates"), unit)
    if per_input and m.get("replicates") is not None:
        return f"{m['n']:,} inputs (each the mean over its {unit}, {m['replicates']:,} in all)"
    if per_input:  # --pool without seeds
        return f"{m['n']:,} inputs (each the mean of its rows)"
    return layout_sample_size(m["n"], m.get("inputs"), m.get("replicates"), unit)


def _listed(items: list[str]) -> str:
    shown = items[:MAX_LISTED]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _lost_to_adjustment(c: dict, alpha: float) -> bool:
    """Significant on its own, not after the multiplicity adjustment: its (unadjusted) interval can then
    exclude zero while the verdict says no detectable difference, and the sentence must say why."""
    return c["verdict"] == NO_DIFFERENCE and c["p_value"] is not None and c["p_value"] < alpha \
        and c["p_adjusted"] is not None and c["p_adjusted"] >= alpha


WITHIN_WORDS = {BETTER: "is detectably better than", WORSE: "is detectably worse than",
                NO_DIFFERENCE: "is not detectably different from", NOT_COMPARABLE: "cannot be compared with"}
MAX_WITHIN = 6  # pairs named in a --within headline; the table has every one


def _within_headline(mine: list[dict], metric: dict, opts: Options) -> str:
    """--within asks about pairs inside groups (each model's prompts): the headline is those pairs, not a
    best configuration overall."""
    p_name = {"holm": "Holm-adjusted p", "bh": "BH-adjusted p", "none": "p"}[opts.adjust]
    detected = [c for c in mine if c["verdict"] in (BETTER, WORSE) and not c.get("ranks_disagree")]
    shown = (detected + [c for c in mine if c not in detected])[:MAX_WITHIN]

    def clause(c: dict) -> str:
        words = "has no verdict against" if c.get("ranks_disagree") else WITHIN_WORDS[c["verdict"]]
        if c["delta"] is None:
            return f"{c['configuration']} {words} {c['reference']}"
        return (f"{c['configuration']} {words} {c['reference']} (diff "
                f"{fmt_interval(c['delta'], c['ci_low'], c['ci_high'])}, {p_name} {fmt_p(c['p_adjusted'])})")

    more = len(mine) - len(shown)
    return (f"Within each {', '.join(opts.within)} ({len(mine)} pairs on {metric['name']}, {metric['better']} is "
            f"better; {len(detected)} {'differs' if len(detected) == 1 else 'differ'} detectably): " + "; ".join(clause(c) for c in shown)
            + (f"; and {more} more pairs in the table" if more else "") + ".")


def headline(configs: list[dict], comparisons: list[dict], metric: dict | None, opts: Options,
             described: dict, reference: str | None = None, latency_only: bool = False) -> str:
    """One sentence a person can paste into a PR, about the primary metric (`described`: Layout.describe())."""
    unit = replicate_unit(described)
    if metric is None and latency_only:
        return "Latency only: no metric ranks these configurations; the table gives each one's percentiles."
    if metric is None:
        return "No metric to compare: record prediction and ground truth, or name a column with --metric COL:higher."
    name = metric["name"]
    scored = [c for c in configs if c["metrics"][name]["n"] > 0]
    if not scored:
        return f"No configuration has a {name} value to compare."
    if opts.pairs == "none":
        return f"No pairs compared (--pairs none): the table gives each configuration's {name} with its interval."
    mine = [c for c in comparisons if c["metric"] == name]
    if opts.within and mine:
        return _within_headline(mine, metric, opts)
    best = next((c for c in configs if c["label"] == mine[0]["reference"]), scored[0]) if mine else scored[0]
    best_label = best["label"]
    others = [c for c in mine if c["reference"] != best_label]  # --pairs all: pairs without the best
    mine = [c for c in mine if c["reference"] == best_label]
    m = best["metrics"][name]
    tied = [c["label"] for c in scored if c["rank"] == best["rank"] and c is not best]
    standing = f"is tied for best {name} with {_listed(tied)}" if tied else f"has the best {name}"
    if reference is not None:  # --reference: the others are measured against it, whatever its rank
        best = next(c for c in configs if c["label"] == reference)
        best_label, m = reference, best["metrics"][name]
        standing = f"(the reference, rank {best['rank']}{'=' if best['tied'] else ''}) has {name}"
    size = sample_size(m, unit, opts.unit == "input", items_are_folds(described, best))
    lead = (f"{best_label} {standing} ({metric['better']} is better): "
            f"{fmt_interval(m['estimate'], m['ci_low'], m['ci_high'])} on {size}")
    if len(scored) == 1 and not mine:
        return f"Only one configuration ({best_label}) has {name}: " \
               f"{fmt_interval(m['estimate'], m['ci_low'], m['ci_high'])} on {size}; nothing to compare."
    p_name = {"holm": "Holm-adjusted p", "bh": "BH-adjusted p", "none": "p"}[opts.adjust]

    def ahead(c: dict) -> str:
        """The subject minus the other (each comparison stores the other minus the subject): '+0.345 [...]'
        reads with 'better than', where the stored sign read backwards."""
        if c["delta"] is None:
            return fmt_interval(None, None, None)
        def neg(x):
            return None if x is None else 0.0 - x  # not -x: -0.0 would print as -0.000

        return ("+" if neg(c["delta"]) > 0 else "") + fmt_interval(neg(c["delta"]), neg(c["ci_high"]),
                                                                   neg(c["ci_low"]))

    def detail(c: dict) -> str:
        return f"{c['configuration']} ({ahead(c)}, {p_name} {fmt_p(c['p_adjusted'])})"

    def detail_adjusted(c: dict) -> str:
        return (f"{c['configuration']} ({ahead(c)} unadjusted, p {fmt_p(c['p_value'])}; {p_name} "
                f"{fmt_p(c['p_adjusted'])})")

    adjusted_away = [c for c in mine if _lost_to_adjustment(c, opts.alpha)]
    split = [c for c in mine if c.get("ranks_disagree")]
    by = {v: [c for c in mine if c["verdict"] == v and c not in adjusted_away and c not in split]
          for v in (BETTER, WORSE, NO_DIFFERENCE, NOT_COMPARABLE)}
    parts = [f"{lead}; differences are {best_label} minus each" if mine else lead]
    if by[WORSE]:
        parts.append(f"it is detectably better than {_listed([detail(c) for c in by[WORSE]])}")
    if adjusted_away:
        parts.append(f"there is no detectable difference from {_listed([detail_adjusted(c) for c in adjusted_away])} "
                     f"after adjusting for the {adjusted_away[0]['family_size']} comparisons of its family")
    if by[NO_DIFFERENCE]:
        parts.append(f"it is not detectably different from {_listed([detail(c) for c in by[NO_DIFFERENCE]])}, "
                     "which is not evidence that they are equal")
    if split:
        parts.append(f"against {_listed([detail(c) for c in split])} there is no verdict: most items lean one way "
                     "and the mean, set by a few large differences, the other")
    if by[BETTER]:
        parts.append(f"on the items both have, {_listed([detail(c) for c in by[BETTER]])} "
                     "is detectably better")
    if by[NOT_COMPARABLE]:
        parts.append(f"it cannot be compared with {_listed([c['configuration'] for c in by[NOT_COMPARABLE]])} "
                     "(no shared items)")
    if others:
        differ = [f"{c['reference']} vs {c['configuration']}" for c in others if c["verdict"] in (BETTER, WORSE)]
        among = "the other pair" if len(others) == 1 else f"the other {len(others)} pairs"
        verb = "differs" if len(differ) == 1 else "differ"
        parts.append(f"among {among}, {len(differ) or 'none'} {verb if differ else 'differs'} detectably"
                     + (f" ({_listed(differ)})" if differ else ""))
    return "; ".join(parts) + "."


def _ranks(configs: list[ConfigSummary], metric_name: str | None) -> list[int]:
    """Competition ranks by the primary metric, in report order: equal estimates (to the 6 decimals the
    report keeps) share a rank (1, 1, 3), so a tie is never shown as a win. Without a metric: positions."""
    if metric_name is None:
        return list(range(1, len(configs) + 1))
    keys = []
    for c in configs:
        m = c.metrics[metric_name]
        estimate = r6(m.interval.estimate)
        keys.append((1, None) if m.n == 0 or estimate is None else (0, estimate))
    return [keys.index(k) + 1 for k in keys]  # report order is sorted, so equal keys are adjacent


def stratum_entry(s: StratumInput, layout: Layout, plan: Plan, opts: Options) -> dict:
    ranks_in_order = _ranks(s.configs, plan.metrics[0].name if plan.metrics else None)
    configs = [config_entry(c, layout, plan, rank, s.labels[c.index] if layout.config else "(all rows)")
               for rank, c in zip(ranks_in_order, s.configs, strict=True)]
    for e in configs:
        e["tied"] = ranks_in_order.count(e["rank"]) > 1
    _make_labels_unique(configs)
    if opts.targets:
        judge_configurations(configs, list(opts.targets), opts.confidence)
    labels = {c.index: e["label"] for c, e in zip(s.configs, configs, strict=True)}
    ranks = {c.index: e["rank"] for c, e in zip(s.configs, configs, strict=True)}
    comparisons = [comparison_entry(c, labels, ranks) for c in s.comparisons]
    primary = plan.describe()["metrics"][0] if plan.metrics else None
    reference = labels[s.reference] if s.reference is not None else None
    return {"version": s.versions, "label": s.label or "(unversioned)",
            "rows": sum(c.group.rows for c in s.configs), "reference": reference, "configurations": configs,
            "comparisons": comparisons, "families": families(comparisons),
            "headline": headline(configs, comparisons, primary, opts, layout.describe(), reference,
                                 latency_only=plan.latency_named and bool(plan.latency))}
