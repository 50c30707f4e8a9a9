"""The finished summary as plain data: one stable, JSON-ready dictionary that every output format renders.

Numbers are rounded here, once (estimates to 6 decimals, p-values to 4 significant digits), so the Markdown,
CSV, JSON and picture agree and golden-output tests are byte-stable.

The document (`--json`, schema_version 1): schema_version, tool, status ('ok', or 'findings' when a finding
reaches --fail-on), summary {rows_inspected, files, table, versions, configurations}, findings[] (the shared
shape: check_id, severity, message, hint, examples, examples_omitted), inferred {layout, measures}, options
{confidence, alpha, adjust, resamples, seed}, and versions[]: one per version, never pooled, each with
- version {column: value}, label, rows, headline (one sentence for a PR);
- configurations[] in rank order: rank, label, configuration, parameters, rows, items, failed, replays_used,
  replays_dropped, duplicates_dropped, clusters, metrics {name: {n, estimate, ci_low, ci_high, interval}},
  latency {column, unit, n, p50, p95, p99} or null, tokens, cost;
- comparisons[] (each configuration against the best, per metric): metric, rank, configuration,
  reference_rank, reference, shared_items, only_reference, only_other, delta (configuration - reference),
  ci_low, ci_high, effect_size {name, value, magnitude}, discordant [b, c] (0/1 metrics), test, interval,
  p_value, p_adjusted, verdict ('better' | 'worse' | 'no detectable difference' | 'not comparable').
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from _configs import Layout
from _stats import effect_size_label
from _summary_compute import BETTER, NO_DIFFERENCE, NOT_COMPARABLE, WORSE, Comparison, ConfigSummary, Options
from _summary_plan import Plan

TEST_NAMES = {"mcnemar-exact": "McNemar exact", "wilcoxon": "Wilcoxon signed-rank",
              "cluster-robust-t": "cluster-robust t"}
MAX_LISTED = 3


def r6(x: float | None) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), 6) + 0.0  # + 0.0 turns -0.0 into 0.0


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


def config_entry(c: ConfigSummary, layout: Layout, plan: Plan, rank: int, name: str) -> dict:
    g = c.group
    entry = {
        "rank": rank,
        "label": name,
        "configuration": dict(zip(layout.config, g.config, strict=True)),
        "parameters": dict(g.parameters),
        "rows": g.rows, "items": c.items, "failed": c.failed,
        "replays_used": c.replays_used, "replays_dropped": c.replays_dropped,
        "duplicates_dropped": c.duplicates_dropped, "clusters": c.clusters,
        "metrics": {name: {"n": m.n, "estimate": r6(m.interval.estimate), "ci_low": r6(m.interval.low),
                           "ci_high": r6(m.interval.high), "interval": m.interval.method}
                    for name, m in c.metrics.items()},
        "latency": ({"column": plan.latency, "unit": plan.latency_unit, "n": c.latency_n,
                     **{k: r6(v) for k, v in c.latency.items()}} if plan.latency else None),
        "tokens": r6(c.tokens), "cost": r6(c.cost),
    }
    return entry


def config_display(c: ConfigSummary, layout: Layout) -> dict:
    """What names a configuration: its parameters beside a config_id, else its key columns."""
    g = c.group
    if layout.config_from == "config_id" and g.parameters and any(v is not None for v in g.parameters.values()):
        return dict(g.parameters)
    return dict(zip(layout.config, g.config, strict=True))


def _make_labels_unique(configs: list[dict]) -> None:
    """Two configurations can show the same parameters (a field that is not a column): add their key."""
    seen: dict[str, int] = {}
    for c in configs:
        seen[c["label"]] = seen.get(c["label"], 0) + 1
    for c in configs:
        if seen[c["label"]] > 1:
            key = ", ".join(f"{k}={v}" for k, v in c["configuration"].items()) or f"#{c['rank']}"
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
        "effect_size": {"name": "cohens_dz", "value": r6(dz), "magnitude": effect_size_label(dz)},
        "discordant": list(res.discordant) if res and res.discordant else None,
        "test": res.test if res else None, "interval": res.interval_method if res else None,
        "p_value": rp(res.p_value) if res else None, "p_adjusted": rp(comp.p_adjusted),
        "verdict": comp.verdict,
    }


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _listed(items: list[str]) -> str:
    shown = items[:MAX_LISTED]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def headline(configs: list[dict], comparisons: list[dict], metric: dict | None, adjust: str) -> str:
    """One sentence a person can paste into a PR, about the primary metric."""
    if metric is None:
        return "No metric to compare: record prediction and ground truth, or name a column with --metric COL:higher."
    name = metric["name"]
    scored = [c for c in configs if c["metrics"][name]["n"] > 0]
    if not scored:
        return f"No configuration has a {name} value to compare."
    mine = [c for c in comparisons if c["metric"] == name]
    best = configs[mine[0]["reference_rank"] - 1] if mine else scored[0]
    best_label = best["label"]
    m = best["metrics"][name]
    lead = (f"{best_label} has the best {name} ({metric['better']} is better): {fmt(m['estimate'])} "
            f"[{fmt(m['ci_low'])}, {fmt(m['ci_high'])}] on {m['n']:,} items")
    if len(scored) == 1 and not mine:
        return f"Only one configuration ({best_label}) has {name}: {fmt(m['estimate'])} " \
               f"[{fmt(m['ci_low'])}, {fmt(m['ci_high'])}] on {m['n']:,} items; nothing to compare."
    p_name = {"holm": "Holm-adjusted p", "bh": "BH-adjusted p", "none": "p"}[adjust]

    def detail(c: dict) -> str:
        return (f"{c['configuration']} (diff {fmt(c['delta'])} [{fmt(c['ci_low'])}, {fmt(c['ci_high'])}], "
                f"{p_name} {fmt_p(c['p_adjusted'])})")

    by = {v: [c for c in mine if c["verdict"] == v] for v in (BETTER, WORSE, NO_DIFFERENCE, NOT_COMPARABLE)}
    parts = [lead]
    if by[WORSE]:
        parts.append(f"it is detectably better than {_listed([detail(c) for c in by[WORSE]])}")
    if by[NO_DIFFERENCE]:
        parts.append(f"it is not detectably different from {_listed([detail(c) for c in by[NO_DIFFERENCE]])}, "
                     "which is not evidence that they are equal")
    if by[BETTER]:
        parts.append(f"on the items both have, {_listed([detail(c) for c in by[BETTER]])} "
                     "is detectably better")
    if by[NOT_COMPARABLE]:
        parts.append(f"it cannot be compared with {_listed([c['configuration'] for c in by[NOT_COMPARABLE]])} "
                     "(no shared items)")
    return "; ".join(parts) + "."


def stratum_entry(s: StratumInput, layout: Layout, plan: Plan, opts: Options) -> dict:
    configs = [config_entry(c, layout, plan, rank, s.labels[c.index] if layout.config else "(all rows)")
               for rank, c in enumerate(s.configs, start=1)]
    _make_labels_unique(configs)
    labels = {c.index: e["label"] for c, e in zip(s.configs, configs, strict=True)}
    ranks = {c.index: e["rank"] for c, e in zip(s.configs, configs, strict=True)}
    comparisons = [comparison_entry(c, labels, ranks) for c in s.comparisons]
    primary = plan.describe()["metrics"][0] if plan.metrics else None
    return {"version": s.versions, "label": s.label or "(unversioned)",
            "rows": sum(c.group.rows for c in s.configs), "configurations": configs, "comparisons": comparisons,
            "headline": headline(configs, comparisons, primary, opts.adjust)}
