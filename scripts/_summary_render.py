"""export_summary's outputs, all drawn from the one summary document: Markdown, CSV and a PNG picture."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from _summary_model import TEST_NAMES, fmt, fmt_p

VERDICT_COLOURS = {"best": "#1b6ca8", "better": "#2e8b57", "worse": "#c0392b",
                   "no detectable difference": "#7f8c8d", "not comparable": "#bdc3c7"}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(header: list[str], align: str, rows: list[list[str]]) -> list[str]:
    sep = ["---:" if a == "r" else "---" for a in align]
    return [_row(header), _row(sep), *(_row(r) for r in rows)]


def _interval(m: dict) -> str:
    if m["n"] == 0:
        return "-"
    if m["ci_low"] is None:
        return fmt(m["estimate"])
    return f"{fmt(m['estimate'])} [{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]"


def _config_table(stratum: dict, doc: dict) -> list[str]:
    metrics = doc["inferred"]["measures"]["metrics"]
    plan = doc["inferred"]["measures"]
    header = ["rank", "configuration", "items", "failed"]
    ci = f"{doc['options']['confidence']:.0%} CI"
    header += [f"{m['name']} ({m['better']} is better) [{ci}]" for m in metrics]
    if plan["latency"]:
        unit = f" ({plan['latency_unit']})" if plan["latency_unit"] else ""
        header.append(f"{plan['latency']} p50 / p95 / p99{unit}")
    for extra in ("tokens", "cost"):
        if plan[extra]:
            header.append(f"{plan[extra]} (total)")
    rows = []
    for c in stratum["configurations"]:
        row = [str(c["rank"]), c["label"], f"{c['items']:,}", f"{c['failed']:,}"]
        row += [_interval(c["metrics"][m["name"]]) for m in metrics]
        if plan["latency"]:
            lat = c["latency"]
            row.append(" / ".join(fmt(lat.get(k)) for k in ("p50", "p95", "p99")) if lat.get("p50") is not None
                       else "-")
        for extra in ("tokens", "cost"):
            if plan[extra]:
                row.append(fmt(c[extra], 4 if extra == "cost" else 0))
        rows.append(row)
    return _table(header, "rlrr" + "l" * (len(header) - 4), rows)


def _comparison_table(comparisons: list[dict], adjust: str, ci: str) -> list[str]:
    p_head = {"holm": "p (Holm)", "bh": "p (BH)", "none": "p"}[adjust]
    header = ["configuration", "shared items", "excluded (best only / this only)", f"difference vs best [{ci}]",
              "effect size d_z", "test", p_head, "verdict"]
    rows = []
    for c in comparisons:
        effect = c["effect_size"]
        dz = "-" if effect["value"] is None else f"{effect['value']:.2f} ({effect['magnitude']})"
        diff = "-" if c["delta"] is None else (
            f"{fmt(c['delta'])} [{fmt(c['ci_low'])}, {fmt(c['ci_high'])}]" if c["ci_low"] is not None
            else fmt(c["delta"]))
        rows.append([c["configuration"], f"{c['shared_items']:,}", f"{c['only_reference']:,} / {c['only_other']:,}",
                     diff, dz, TEST_NAMES.get(c["test"], c["test"] or "-"), fmt_p(c["p_adjusted"]), c["verdict"]])
    return _table(header, "lrrlllll", rows)


def markdown(doc: dict) -> str:
    s = doc["summary"]
    inferred = doc["inferred"]
    layout = inferred["layout"]
    files = ", ".join(s["files"])
    lines = ["# Benchmark summary", ""]
    lines.append(f"Table `{s['table']}` in {files}: {s['rows_inspected']:,} rows, {s['configurations']} "
                 f"configuration(s), {len(doc['versions'])} version(s).")
    config = ", ".join(layout["configuration"]) or "none (all rows are one configuration)"
    item = " + ".join(layout["item"]) or "none found (comparisons need --input-col)"
    lines.append(f"Configuration: {config}. Item: {item}. Clusters: {', '.join(layout['cluster']) or 'none'}.")
    o = doc["options"]
    adjustment = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}[o["adjust"]]
    lines.append(f"Intervals: {o['confidence']:.0%}. Tests: two-sided, alpha {o['alpha']}, {adjustment} "
                 f"adjustment for multiple comparisons. Bootstrap: {o['resamples']} resamples, seed {o['seed']}.")
    for f in doc["findings"]:
        lines.append(f"- **{f['severity']}** ({f['check_id']}): {f['message']} {f['hint']}".rstrip())
    for stratum in doc["versions"]:
        lines += ["", f"## Version: {stratum['label']}" if stratum["version"] else "## Results", ""]
        lines += _config_table(stratum, doc)
        for metric in inferred["measures"]["metrics"]:
            mine = [c for c in stratum["comparisons"] if c["metric"] == metric["name"]]
            if not mine:
                continue
            lines += ["", f"### {metric['name']}: each configuration vs the best ({mine[0]['reference']}), "
                          "paired on shared items", ""]
            lines += _comparison_table(mine, o["adjust"], f"{o['confidence']:.0%} CI")
        lines += ["", f"**Headline:** {stratum['headline']}"]
    lines += ["", "Excluded items are missing or failed on one side. \"No detectable difference\" means this data "
                  "cannot tell the two apart; it is not evidence that they are equal.", ""]
    return "\n".join(lines)


CSV_FIELDS = ["version", "rank", "configuration", "items", "failed", "metric", "better", "n", "estimate", "ci_low",
              "ci_high", "interval", "latency_column", "latency_unit", "latency_p50", "latency_p95", "latency_p99",
              "tokens", "cost", "reference", "shared_items", "only_reference", "only_other", "difference",
              "difference_ci_low", "difference_ci_high", "effect_size_dz", "test", "p_value", "p_adjusted", "verdict"]


def csv_text(doc: dict) -> str:
    """One row per (version, configuration, metric): a long table for spreadsheets and dataframes."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    metrics = doc["inferred"]["measures"]["metrics"] or [None]
    for stratum in doc["versions"]:
        comps = {(c["metric"], c["configuration"]): c for c in stratum["comparisons"]}
        for c in stratum["configurations"]:
            lat = c["latency"] or {}
            for metric in metrics:
                row = {"version": stratum["label"], "rank": c["rank"], "configuration": c["label"],
                       "items": c["items"], "failed": c["failed"], "latency_column": lat.get("column"),
                       "latency_unit": lat.get("unit"), "latency_p50": lat.get("p50"), "latency_p95": lat.get("p95"),
                       "latency_p99": lat.get("p99"), "tokens": c["tokens"], "cost": c["cost"]}
                if metric:
                    m = c["metrics"][metric["name"]]
                    row.update(metric=metric["name"], better=metric["better"], n=m["n"], estimate=m["estimate"],
                               ci_low=m["ci_low"], ci_high=m["ci_high"], interval=m["interval"])
                    comp = comps.get((metric["name"], c["label"]))
                    if comp:
                        row.update(reference=comp["reference"], shared_items=comp["shared_items"],
                                   only_reference=comp["only_reference"], only_other=comp["only_other"],
                                   difference=comp["delta"], difference_ci_low=comp["ci_low"],
                                   difference_ci_high=comp["ci_high"], effect_size_dz=comp["effect_size"]["value"],
                                   test=comp["test"], p_value=comp["p_value"], p_adjusted=comp["p_adjusted"],
                                   verdict=comp["verdict"])
                    elif m["n"] and any(k[0] == metric["name"] for k in comps):
                        row.update(verdict="best")
                writer.writerow(row)
    return out.getvalue()


def plot(doc: dict, path: Path) -> None:
    """Each metric's estimate with its 95% interval per configuration, best at the top, coloured by verdict."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must be chosen before pyplot is imported
    import matplotlib.pyplot as plt

    metrics = doc["inferred"]["measures"]["metrics"]
    several = len(doc["versions"]) > 1
    rows = []  # (label, {metric: (estimate, low, high, verdict)})
    for stratum in doc["versions"]:
        verdicts = {(c["metric"], c["configuration"]): c["verdict"] for c in stratum["comparisons"]}
        refs = {c["metric"]: c["reference"] for c in stratum["comparisons"]}
        for c in stratum["configurations"]:
            name = f"{c['label']}  ({stratum['label']})" if several else c["label"]
            values = {}
            for m in metrics:
                mm = c["metrics"][m["name"]]
                verdict = "best" if refs.get(m["name"]) == c["label"] else verdicts.get((m["name"], c["label"]),
                                                                                       "not comparable")
                values[m["name"]] = (mm["estimate"], mm["ci_low"], mm["ci_high"], verdict)
            rows.append((name, values))
    n_metrics = max(1, len(metrics))
    height = 1.2 + 0.45 * max(1, len(rows))
    fig, axes = plt.subplots(1, n_metrics, figsize=(5.5 * n_metrics + 2.5, height), squeeze=False, sharey=True)
    y = list(range(len(rows)))[::-1]  # first row (the best) at the top
    for ax, m in zip(axes[0], metrics or [None], strict=True):
        if m is None:
            ax.text(0.5, 0.5, "no metric to plot", ha="center", va="center", transform=ax.transAxes)
            continue
        for yi, (_, values) in zip(y, rows, strict=True):
            est, low, high, verdict = values[m["name"]]
            if est is None:
                continue
            colour = VERDICT_COLOURS[verdict]
            if low is not None:
                ax.errorbar(est, yi, xerr=[[est - low], [high - est]], fmt="o", color=colour, capsize=4, lw=2)
            else:
                ax.plot(est, yi, "o", color=colour)
        ax.set_title(f"{m['name']} ({m['better']} is better), {doc['options']['confidence']:.0%} CI", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y)
    axes[0][0].set_yticklabels([name for name, _ in rows], fontsize=9)
    used = {v[3] for _, values in rows for v in values.values()}
    handles = [plt.Line2D([], [], marker="o", ls="", color=col, label=lab) for lab, col in VERDICT_COLOURS.items()
               if lab in used]
    fig.legend(handles=handles, loc="lower center", ncol=max(1, len(handles)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12 if height < 3 else 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
