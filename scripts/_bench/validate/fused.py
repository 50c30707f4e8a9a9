"""validate_benchmark.py's passes in two scans, for DuckDB: what the three general passes (passes.py) count.

Through DuckDB's sqlite extension a scan costs per column it reads, and the general passes read the key and
item columns three times (global, per configuration, per input). Here:
1. one GROUP BY the configuration key computes the per-configuration counts *and* the global pass's
   aggregates per group; window functions over the (few) groups combine the latter, in DuckDB's own order;
2. the input pass also gives each configuration a bit (a join to the list of groups from scan 1) and ORs the
   bits of each input's rows: per configuration, the inputs it has, has computed successfully, has any success
   are then sums of one bit over inputs. No (configuration, input) groups: 8 M of them at 10 M rows were the
   general per-configuration pass's cost under the 512 MB memory limit.

The group of rows with no configuration at all (reported when the key holds the parameters, to count its
rows) gets no item counts: like the input pass, the masks leave such rows out, and no check reads them.

It applies when the key has columns, inputs have no split column (a split makes an item two groups of one
input), and there are at most 62 groups (a BIGINT of bits). Otherwise `fused_passes` returns the global
counts alone and validate_benchmark runs the general per-configuration and input passes.
"""

from __future__ import annotations

from _bench.layout import Layout
from _bench.reader import Benchmark
from _bench.sql import count_if, q
from _bench.validate.passes import (
    ConfigStats,
    PassStats,
    global_aggregates,
    global_stats,
    input_pass,
    key_holds_parameters,
    sort_configs,
)

MAX_BITS = 62  # configurations per BIGINT bit mask (bit 63 is the sign)


def fusable(layout: Layout, key: list[str]) -> bool:
    return bool(key) and not layout.split


def fused_passes(bench: Benchmark, source: str, layout: Layout,
                 key: list[str]) -> tuple[PassStats, list[ConfigStats] | None]:
    """The global stats (input pass included) and the configurations, or None for the configurations when
    there are more than MAX_BITS groups (the general passes then count them)."""
    stats, groups = _grouped_pass(bench, source, layout, key)
    masked = 0 < len(groups) <= MAX_BITS and bool(layout.input_id)
    masks = _mask_aggregates(layout, len(groups)) if masked else ({}, {})
    join, params = _bit_join(key, groups) if masked else ("", [])
    values = input_pass(bench, source, layout, *masks, join=join, params=params)
    for name in ("distinct_inputs", "replicates", "items", "gt_conflicts"):
        if name in values:
            setattr(stats, name, values[name])
    if len(groups) > MAX_BITS:
        return stats, None
    configs = []
    for i, (group_key, c) in enumerate(groups):
        items = values.get(f"any{i}", 0) or 0
        configs.append(ConfigStats(
            key=group_key, rows=c["rows"], replayed=c["replayed"], failed=c["failed"],
            computed_ok=c["computed_ok"], items=items, items_computed_ok=values.get(f"ok{i}", 0) or 0,
            items_succeeded=(values.get(f"succ{i}", 0) or 0) if layout.error and layout.input_id else None,
            parameters=c["parameters"], configured=c["configured"]))
    return stats, sort_configs(configs)


def _grouped_pass(bench: Benchmark, source: str, layout: Layout, key: list[str]) -> tuple[PassStats, list]:
    L = layout
    # Per-configuration counts leave out rows with no configuration, as the general pass's WHERE does,
    # except when the key holds the parameters (their group is then reported, `configured` False).
    configured = "1 = 1" if key_holds_parameters(L) else f"NOT ({L.no_configuration()})"
    extra = [p for p in L.parameters if p not in key] if L.config_from == "config_id" else []
    per_config = {"rows": count_if(configured), "replayed": count_if(f"({configured}) AND {L.replayed}"),
                  "failed": count_if(f"({configured}) AND {L.failed}"),
                  "computed_ok": count_if(f"({configured}) AND {L.computed_ok}")}
    per_config.update({f"param{i}": f"MIN({q(p)}) FILTER (WHERE {configured})" for i, p in enumerate(extra)})
    aggregates = global_aggregates(L)
    # Aliases start with _v_ so that none can name one of the benchmark's own columns.
    keys = [f"{q(k)} AS _v_k{i}" for i, k in enumerate(key)]
    inner = [*keys, *(f"{v} AS _v_{k}" for k, v in per_config.items()),
             *(f"{a.sql} AS _v_g{i}" for i, a in enumerate(aggregates))]
    combined = [f"{a.combine}(_v_g{i}) OVER ()" for i, a in enumerate(aggregates)]
    outer = [*(f"_v_k{i}" for i in range(len(key))), *(f"_v_{k}" for k in per_config), *combined]
    sql = (f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {source} "
           f"GROUP BY {', '.join(q(k) for k in key)}) g")
    rows = bench.query(sql)
    if not rows:  # no rows at all: the caller reports an empty benchmark
        return global_stats(aggregates, [0] * len(aggregates)), []
    stats = global_stats(aggregates, rows[0][len(key) + len(per_config):])
    config_index = [key.index(c) for c in dict.fromkeys(L.config + L.parameters) if c in key]
    groups = []
    for row in rows:
        values = dict(zip(per_config, row[len(key):len(key) + len(per_config)], strict=True))
        if not values["rows"]:
            continue  # only rows with no configuration
        values["parameters"] = {p: values[f"param{i}"] for i, p in enumerate(extra)}
        values["configured"] = not config_index or any(row[i] is not None for i in config_index)
        groups.append((tuple(row[:len(key)]), values))
    return stats, groups


def _bit_join(key: list[str], groups: list) -> tuple[str, list]:
    """Each row's configuration bit: a join to the groups' keys (NULL matching NULL), as parameters."""
    if not groups:
        return "", []
    cols = ", ".join([*(f"_v_k{i}" for i in range(len(key))), "_v_bit"])
    values = ", ".join("(" + ", ".join(["?"] * len(key) + ["CAST(? AS BIGINT)"]) + ")" for _ in groups)
    params = [v for i, (group_key, _) in enumerate(groups) for v in (*group_key, 1 << i)]
    on = " AND ".join(f"{q(k)} IS NOT DISTINCT FROM _v_c._v_k{i}" for i, k in enumerate(key))
    return f"JOIN (VALUES {values}) AS _v_c({cols}) ON {on}", params


def _mask_aggregates(layout: Layout, n: int) -> tuple[dict, dict]:
    L = layout
    inner = {"_v_any": "BIT_OR(_v_bit)", "_v_ok": f"BIT_OR(CASE WHEN {L.computed_ok} THEN _v_bit ELSE 0 END)",
             "_v_succ": f"BIT_OR(CASE WHEN {L.succeeded} THEN _v_bit ELSE 0 END)"}
    outer = {}
    for i in range(n):
        outer.update({f"any{i}": f"SUM((_v_any >> {i}) & 1)", f"ok{i}": f"SUM((_v_ok >> {i}) & 1)",
                      f"succ{i}": f"SUM((_v_succ >> {i}) & 1)"})
    return inner, outer
