"""export_summary's CSV tables: the long one (--csv), the results table (--csv --wide) and, for a load test,
one row per level. Each reads the report's JSON document, as the Markdown does, so every number in a table is
one the JSON gives."""

from __future__ import annotations

import csv
import io

from _bench.layout import structured

CSV_FIELDS = ["version", "rank", "configuration", "items", "failed", "metric", "better", "n", "estimate", "ci_low",
              "ci_high", "interval", "latency_column", "latency_unit", "latency_p50", "latency_p95", "latency_p99",
              "tokens", "cost", "reference", "shared_items", "excluded_reference_only", "excluded_configuration_only",
              "discordant_configuration_right", "discordant_reference_right", "difference", "difference_ci_low",
              "difference_ci_high", "effect_size_dz", "test", "p_value", "p_adjusted", "verdict",
              "min_detectable_difference", "mdd_alpha"]


def parameter_columns(configurations: list[dict], taken: list[str]) -> dict[str, tuple[str, str | None]]:
    """A column per parameter that tells the configurations apart (model, temperature, ...) and per parameter
    shown beside a config_id, so a table can be filtered or pivoted by them without parsing the
    `configuration` label: {column name: (parameter, key)}, from each configuration's values (config_values,
    or a load level's). A parameter whose every value names several values (JSON such as `[["C", 0.1]]`)
    also gets a column per name, `hyperparameters.C` (key: that name; empty where a configuration has no such
    value). A parameter whose name is already a column (rank, rows, a metric) gets the prefix `param_`."""
    names = dict.fromkeys(k for c in configurations for k in c)
    columns: dict[str, tuple[str, str | None]] = {}
    for name in names:
        columns[f"param_{name}" if name in taken else name] = (name, None)
        values = [v for c in configurations if (v := c.get(name)) is not None]
        inner = [structured(v) for v in values]
        if values and all(d is not None for d in inner):
            for key in dict.fromkeys(k for d in inner for k in d):
                columns[f"{name}.{key}"] = (name, key)
    return columns


def config_values(c: dict) -> dict:
    """A reported configuration's parameter values: the ones that tell it apart first, then those shown beside
    a config_id (a name in both keeps the first's value)."""
    return {**c["configuration"], **{k: v for k, v in c["parameters"].items() if k not in c["configuration"]}}


def _version_columns(doc: dict) -> list[str]:
    """The version columns a table carries, whenever the rows have any (trial L: a single version's table said
    nothing of its commit or experiment, the same run's --by table did; a CSV is handed on without its name)."""
    return list(dict.fromkeys(k for v in doc["versions"] for k in (v["version"] or {})))


def _all_values(doc: dict) -> list[dict]:
    return [config_values(c) for v in doc["versions"] for c in v["configurations"]]


def _parameter_values(values: dict, columns: dict[str, tuple[str, str | None]], prefix: str = "") -> dict:
    out = {}
    for col, (name, key) in columns.items():
        value = values.get(name)
        out[prefix + col] = value if key is None else (structured(value) or {}).get(key)
    return out


# Columns of what a benchmark may not record (tokens and cost: an LLM's; --failure-latency's value): left out of
# a CSV where every row is empty (a trial pasted a 42-column table, three always empty, into a wiki; another read
# always-empty columns as missing answers).
OPTIONAL_FIELDS = ("tokens", "cost", "latency_failures_counted_at")


def _write(fields: list[str], rows: list[dict]) -> str:
    """The CSV of `rows`, without the OPTIONAL_FIELDS every row leaves empty."""
    empty = {f for f in OPTIONAL_FIELDS if f in fields and all(r.get(f) is None for r in rows)}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[f for f in fields if f not in empty], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: v for k, v in r.items() if k not in empty} for r in rows)
    return out.getvalue()


def _after_configuration(fields: list[str], extra: list[str]) -> list[str]:
    at = fields.index("configuration") + 1
    return fields[:at] + extra + fields[at:]


def csv_text(doc: dict) -> str:
    """One row per (version, configuration, metric), and per comparison: with --pairs all a configuration
    compared with several others has a row for each (its `reference` column names the other). A long table
    for spreadsheets and dataframes; after `configuration`, a column per parameter (parameter_columns)."""
    params = parameter_columns(_all_values(doc), CSV_FIELDS)
    # the other side of a comparison too (trial M: `reference` was a label only): reference_<column>
    fields = _after_configuration(CSV_FIELDS, list(params))
    at = fields.index("reference") + 1
    fields = fields[:at] + [f"reference_{col}" for col in params] + fields[at:]
    rows: list[dict] = []
    metrics = doc["inferred"]["measures"]["metrics"] or [None]
    ranked = bool(doc["inferred"]["measures"]["metrics"])
    for stratum in doc["versions"]:
        by_label = {c["label"]: config_values(c) for c in stratum["configurations"]}
        comps: dict[tuple, list[dict]] = {}
        for comp in stratum["comparisons"]:
            comps.setdefault((comp["metric"], comp["configuration"]), []).append(comp)
        for c in stratum["configurations"]:
            lat = c["latency"] or {}
            for metric in metrics:
                row = {"version": stratum["label"], "rank": c["rank"] if ranked else None,
                       "configuration": c["label"], **_parameter_values(config_values(c), params), "items": c["items"],
                       "failed": c["failed"], "latency_column": lat.get("column"), "latency_unit": lat.get("unit"),
                       "latency_p50": lat.get("p50"), "latency_p95": lat.get("p95"), "latency_p99": lat.get("p99"),
                       "tokens": c["tokens"], "cost": c["cost"]}
                if not metric:
                    rows.append(row)
                    continue
                m = c["metrics"][metric["name"]]
                row.update(metric=metric["name"], better=metric["better"], n=m["n"], estimate=m["estimate"],
                           ci_low=m["ci_low"], ci_high=m["ci_high"], interval=m["interval"])
                mine = comps.get((metric["name"], c["label"]), [])
                if not mine and m["n"] and any(k[0] == metric["name"] for k in comps):
                    row.update(verdict="reference" if stratum["reference"] else "best")
                for comp in mine or [None]:
                    rows.append(row if comp is None else {
                        **row, **_comparison_fields(comp),
                        **_parameter_values(by_label.get(comp["reference"], {}), params, "reference_")})
    return _write(fields, rows)


# total tokens and cost are `tokens` and `cost`; spend over right answers, with the metric that counts them
PER_RIGHT = ["cost_per_right_metric", "cost_per_right", "cost_per_right_ci_low", "cost_per_right_ci_high"]
WIDE_METRIC_FIELDS = ["", "_ci_low", "_ci_high", "_n", "_vs", "_difference", "_difference_ci_low",
                      "_difference_ci_high", "_p_adjusted", "_verdict"]


def csv_wide_text(doc: dict) -> str:
    """One row per (version, configuration): each metric's estimate and interval side by side, with its
    comparison: the difference from the configuration it was compared with (`<metric>_vs`: the best, or
    --pairs CONFIG), its interval, the adjusted p and the verdict. With --pairs all, the comparison with the
    highest-ranked configuration (the p adjusted over every pair, as in the long table). Then latency
    percentiles with their intervals and, with --slo, the verdict and each clause's broken share with its
    interval. Version columns first, whenever the rows have any; after `configuration`, a column per
    parameter (parameter_columns). For a results table in a report."""
    metrics = [m["name"] for m in doc["inferred"]["measures"]["metrics"]]
    version_cols = _version_columns(doc)
    configs = [c for v in doc["versions"] for c in v["configurations"]]
    clauses = list(dict.fromkeys(k["clause"] for c in configs if c.get("slo") for k in c["slo"]["clauses"]))
    targets = doc["options"].get("targets") or []  # --target: target_0 holds its text, target_0_verdict the verdict
    latency = [f"latency_{p}{end}" for p in ("p50", "p95", "p99") for end in ("", "_ci_low", "_ci_high")]
    fields = [*version_cols, "rank", "configuration", "rows", "items", "failed",
              *(m + suffix for m in metrics for suffix in WIDE_METRIC_FIELDS), "latency_column", "latency_unit",
              "latency_failures_counted_at", *latency,
              *(["slo_verdict"] if clauses else []),
              *(f"slo_{k}_{end}" for k in clauses for end in ("share", "ci_low", "ci_high", "verdict")),
              "tokens", "cost",
              *(["cost_per_item"] if any(c.get("cost_per_item") is not None for c in configs) else []),
              *(PER_RIGHT if any(c.get("cost_per_right") for c in configs) else []),
              *(f"target_{i}{end}" for i in range(len(targets)) for end in ("", "_verdict")),
              *(["meets_every_target"] if targets else [])]
    params = parameter_columns(_all_values(doc), fields)
    fields = _after_configuration(fields, list(params))
    rows: list[dict] = []
    for stratum in doc["versions"]:
        position = {c["label"]: i for i, c in enumerate(stratum["configurations"])}
        for c in stratum["configurations"]:
            lat = c["latency"] or {}
            row = {**{k: (stratum["version"] or {}).get(k) for k in version_cols},
                   "rank": c["rank"] if metrics else None,  # nothing ranked without a metric (trial M)
                   "configuration": c["label"], **_parameter_values(config_values(c), params), "rows": c["rows"],
                   "items": c["items"], "failed": c["failed"],
                   "latency_column": lat.get("column"), "latency_unit": lat.get("unit"),
                   "latency_failures_counted_at": lat.get("failures_counted_at"), "tokens": c["tokens"],
                   "cost": c["cost"], **({"cost_per_item": c["cost_per_item"]} if "cost_per_item" in fields else {})}
            per_right = c.get("cost_per_right")
            if per_right:  # trial N: documented for this table, and only the JSON had it
                row.update(dict(zip(PER_RIGHT, (per_right[k] for k in ("metric", "estimate", "ci_low", "ci_high")),
                                    strict=True)))
            for p in ("p50", "p95", "p99"):
                low, high = lat.get(f"{p}_ci") or (None, None)
                row.update({f"latency_{p}": lat.get(p), f"latency_{p}_ci_low": low, f"latency_{p}_ci_high": high})
            for i, t in enumerate(c.get("targets") or []):
                row.update({f"target_{i}": t["target"], f"target_{i}_verdict": t["verdict"]})
            if targets:
                row["meets_every_target"] = str(all(t["verdict"] == "meets" for t in c.get("targets") or [])).lower()
            if c.get("slo"):
                row["slo_verdict"] = c["slo"]["verdict"]
                for k in c["slo"]["clauses"]:
                    row.update({f"slo_{k['clause']}_share": k["share"], f"slo_{k['clause']}_ci_low": k["low"],
                                f"slo_{k['clause']}_ci_high": k["high"], f"slo_{k['clause']}_verdict": k["verdict"]})
            for name in metrics:
                m = c["metrics"][name]
                row.update({name: m["estimate"], f"{name}_ci_low": m["ci_low"], f"{name}_ci_high": m["ci_high"],
                            f"{name}_n": m["n"]})
                own = [k for k in stratum["comparisons"] if k["metric"] == name and k["configuration"] == c["label"]]
                if own:
                    k = min(own, key=lambda k: position.get(k["reference"], len(position)))
                    row.update({f"{name}_vs": k["reference"], f"{name}_difference": k["delta"],
                                f"{name}_difference_ci_low": k["ci_low"], f"{name}_difference_ci_high": k["ci_high"],
                                f"{name}_p_adjusted": k["p_adjusted"], f"{name}_verdict": k["verdict"]})
                elif m["n"] and any(k["metric"] == name for k in stratum["comparisons"]):
                    row[f"{name}_verdict"] = "reference" if stratum["reference"] else "best"
            rows.append(row)
    return _write(fields, rows)


def _comparison_fields(comp: dict) -> dict:
    return {"reference": comp["reference"], "shared_items": comp["shared_items"],
            # items left out of the pair, present (and not failed) on one side only: the names say so (trial X read
            # `only_reference` as "only the reference was right")
            "excluded_reference_only": comp["only_reference"], "excluded_configuration_only": comp["only_other"],
            # a right/wrong metric: the items only one side got right, the counts McNemar's test rests on (trial Z
            # could not write statistics.md's "24 vs 16 discordant items" from the table)
            **dict(zip(("discordant_configuration_right", "discordant_reference_right"), comp["discordant"] or
                       (None, None), strict=True)),
            "difference": comp["delta"], "difference_ci_low": comp["ci_low"], "difference_ci_high": comp["ci_high"],
            "effect_size_dz": comp["effect_size"]["value"], "test": comp["test"], "p_value": comp["p_value"],
            "p_adjusted": comp["p_adjusted"], "verdict": comp["verdict"],
            "min_detectable_difference": (comp["detectable"] or {}).get("difference"),
            "mdd_alpha": (comp["detectable"] or {}).get("alpha")}



COMPARISON_FIELDS = ["metric", "better", "configuration", "reference", "shared_items", "excluded_reference_only",
                     "excluded_configuration_only", "discordant_configuration_right", "discordant_reference_right",
                     "difference", "difference_ci_low", "difference_ci_high",
                     "effect_size_dz", "test", "p_value", "p_adjusted", "family", "family_size", "verdict",
                     "min_detectable_difference", "mdd_alpha"]
NEEDED_FIELDS = ["needed", "needed_unit", "needed_data_factor", "needed_inputs", "needed_alone",
                 "needed_inputs_alone"]


def comparisons_csv_text(doc: dict) -> str:
    """One row per comparison (pair x metric), nothing else (trial P copied the --save database's comparisons
    table out to get this): which metric, the configuration and the one it is compared with, each with its
    parameter columns (`model`, ..., `reference_model`, ...), the difference (configuration minus reference)
    with its interval, effect size, test, p, adjusted p with its family, verdict, detectable difference, and
    with --items-needed what the planned difference needs, in the family and for the pair tested alone. Version
    columns only when there are several."""
    metrics = {m["name"]: m["better"] for m in doc["inferred"]["measures"]["metrics"]}
    version_cols = _version_columns(doc)
    planned = any(comp.get("needed") for v in doc["versions"] for comp in v["comparisons"])
    params = parameter_columns(_all_values(doc), [*version_cols, *COMPARISON_FIELDS, *NEEDED_FIELDS])
    # the plan's columns only with --items-needed (trial R: always-empty columns read as missing answers)
    fields = COMPARISON_FIELDS[:3] + list(params) + ["reference"] + [f"reference_{c}" for c in params] + \
        COMPARISON_FIELDS[4:] + NEEDED_FIELDS * planned
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*version_cols, *fields], lineterminator="\n")
    writer.writeheader()
    for stratum in doc["versions"]:
        by_label = {c["label"]: config_values(c) for c in stratum["configurations"]}
        for comp in stratum["comparisons"]:
            needed = comp.get("needed") or {}
            writer.writerow({**{k: (stratum["version"] or {}).get(k) for k in version_cols},
                             "metric": comp["metric"], "better": metrics.get(comp["metric"]),
                             "configuration": comp["configuration"],
                             **_parameter_values(by_label.get(comp["configuration"], {}), params),
                             **_parameter_values(by_label.get(comp["reference"], {}), params, "reference_"),
                             **_comparison_fields(comp), "family": comp["family"],
                             "family_size": comp["family_size"],
                             **(dict(zip(NEEDED_FIELDS, (needed.get(k) for k in (
                                 "count", "unit", "data_factor", "inputs_needed", "count_alone",
                                 "inputs_needed_alone")), strict=True)) if planned else {})})
    return out.getvalue()

LOAD_PERCENTILES = ("p50", "p95", "p99")


def load_csv_text(doc: dict) -> str:
    """A load test's levels, one row each, as the Markdown's level table shows them (trial: the benchmark
    CSV had each level's order-statistic intervals, not the level table's wider ones, and no SLO verdict):
    its parameters, requests, `repeats` (the passes pooled in it), `decides_rate` (true on the level with the
    most requests at its rate: a rate measured again, longer, has two rows; trial Q), offered and achieved
    rates, errors, each percentile in ms with the interval the verdicts use (an end the data cannot bound is
    empty), max; with --slo each clause's broken share,
    interval, allowed share, verdict and (undecided) about how many requests would decide it, the level's
    verdict and `highest_meeting`: true on the highest rate of its series that meets the objective (the
    capacity); with send times (`send_lag_ms`) `client_behind` and `sent_late` of `broken_or_slowest` (the
    requests that broke the objective, or the p99 tail without one). Version columns only when there are
    several."""
    slo = doc["slo"]
    levels = slo["levels"]
    several = len({tuple(sorted((lv["version"] or {}).items())) for lv in levels}) > 1
    version_cols = list(dict.fromkeys(k for lv in levels for k in (lv["version"] or {}))) if several else []
    clauses = list(dict.fromkeys(c["clause"] for lv in levels for c in lv["clauses"]))
    fixed = [*version_cols, "level", "requests", "repeats", "decides_rate", "window_s", "offered_rps", "achieved_rps",
             "errors", "error_rate",
             *(f"latency_{p}_ms{end}" for p in LOAD_PERCENTILES for end in ("", "_ci_low", "_ci_high")), "max_ms",
             *(f"slo_{k}_{end}" for k in clauses for end in ("share", "ci_low", "ci_high", "allowed", "verdict",
                                                              "requests_to_decide")),
             *(["slo_verdict", "highest_meeting"] if clauses else []),
             # with send times: whether the client fell behind its schedule (then a failure is the client's)
             *(["client_behind", "sent_late", "broken_or_slowest"] if any(lv.get("sent_late") for lv in levels) else [])]
    params = parameter_columns([lv["configuration"] for lv in levels], fixed)
    at = fixed.index("level") + 1
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fixed[:at] + list(params) + fixed[at:], lineterminator="\n")
    writer.writeheader()
    for lv in levels:
        row = {**{k: (lv["version"] or {}).get(k) for k in version_cols}, "level": lv["label"],
               **_parameter_values(lv["configuration"], params), "repeats": lv["replicates"],
               "decides_rate": None if lv.get("decides_rate") is None else str(lv["decides_rate"]).lower(),
               **{k: lv[k] for k in ("requests", "window_s", "offered_rps", "achieved_rps", "errors", "error_rate",
                                     "max_ms")}}
        for p in LOAD_PERCENTILES:
            pct = lv["latency_ms"][p]
            row.update({f"latency_{p}_ms": pct["estimate"], f"latency_{p}_ms_ci_low": pct["low"],
                        f"latency_{p}_ms_ci_high": pct["high"]})
        for c in lv["clauses"]:
            row.update({f"slo_{c['clause']}_{end}": c[key] for end, key in (
                ("share", "share"), ("ci_low", "low"), ("ci_high", "high"), ("allowed", "allowed"),
                ("verdict", "verdict"), ("requests_to_decide", "requests_to_decide"))})
        if lv.get("sent_late"):
            row.update(client_behind=str(lv["client_behind"]).lower(), sent_late=lv["sent_late"]["requests"],
                       broken_or_slowest=lv["sent_late"]["of"])
        if clauses:
            series = slo["series"][lv["series"]] if lv.get("series") is not None else {}
            row.update(slo_verdict=lv["verdict"],
                       highest_meeting=str((series.get("highest_meeting") or {}).get("label") == lv["label"]).lower())
        writer.writerow(row)
    return out.getvalue()


SERIES_FIELDS = ["rate", "series", "reference", "level", "reference_level", "client_behind", "measure", "value",
                 "reference_value", "difference", "difference_ci_low", "difference_ci_high", "verdict"]


def series_comparisons_csv_text(doc: dict) -> str:
    """A load test's --csv --comparisons: its series compared at the rates both measured, one row per (series,
    rate, measure): each SLO clause's broken share and p50/p95/p99 in ms, the series' value and the reference's,
    the difference (series minus reference) with its interval, and the verdict (empty where the client fell
    behind: that compares the clients). Trial S converted slo.series_comparisons from --json by hand; the
    --comparisons CSV printed the level table again."""
    rows = []
    for comp in doc["slo"]["series_comparisons"]:
        base = {k: comp[k] for k in ("rate", "series", "reference", "level", "reference_level", "client_behind")}
        for c in comp["clauses"]:
            rows.append({**base, "measure": f"{c['clause']} share broken", "value": c["share"],
                         "reference_value": c["reference_share"], "difference": c["difference"],
                         "difference_ci_low": c["low"], "difference_ci_high": c["high"], "verdict": c["verdict"]})
        for q, d in comp["latency_ms"].items():
            rows.append({**base, "measure": f"latency {q} ms", "value": d["estimate"],
                         "reference_value": d["reference_estimate"], "difference": d["difference"],
                         "difference_ci_low": d["low"], "difference_ci_high": d["high"], "verdict": d["verdict"]})
    return _write(SERIES_FIELDS, rows)
