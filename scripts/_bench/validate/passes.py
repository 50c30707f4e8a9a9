"""The two aggregate passes validate_benchmark.py runs over a benchmark (column roles: _layout.py).

Why two passes and not one table of (configuration, input) groups: materialising or sorting every
(configuration, input) group costs SQLite ~4x a plain aggregate at 1 M rows, while `COUNT(DISTINCT …)` per
configuration costs about what the user's own summary query costs. So:
- the *global* pass (no GROUP BY) counts rows, failures, replays, NULLs, stored types and distinct inputs;
- the *per-configuration* pass (GROUP BY the configuration key) counts rows, distinct inputs and distinct
  successfully computed inputs, built knowing what the global pass found (e.g. versions are part of the
  input key only when several versions exist).
Only a check that fires runs a further query, to find examples. Nothing is fetched row by row.
With SQLite the global pass (with the input pass after it) and the per-configuration pass run at once on two
connections. DuckDB reads each column fewer times when they are fused into two scans (fused.py), which count
exactly what these do (tests/test_validate_fused.py).

A row is *replayed* when its `cache` column holds a track_id (xetrack 0.7.0 logs a cache hit as a row with
`cache` = the computing run's id) and *computed* otherwise ('' or NULL). It *failed* when `error` is not ''.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from _bench.cache_diagnosis import returned_failure
from _bench.layout import EVAL_VALUES, TRAIN_VALUES, Layout, label
from _bench.reader import Benchmark
from _bench.sql import as_text, count_if, filters_sql, flag, literal, q, when

ASSET_HASH_GLOB = "[0-9a-f]" * 16  # xetrack names an asset by the 16-hex xxh64 of its pickle


def create_source(bench: Benchmark, filters: list[tuple[str, str, str]]) -> str:
    """The relation the checks read: `bench`, or a temp view of it restricted by --filter COL=VALUE."""
    if not filters:
        return bench.VIEW
    bench.execute(f"CREATE TEMP VIEW bench_filtered AS SELECT * FROM {bench.VIEW} WHERE {filters_sql(filters)}")
    return "bench_filtered"


# --- pass 1: global ----------------------------------------------------------------------------------

@dataclass
class ColumnProfile:
    """One column as the passes saw it. `low`/`high` are its MIN and MAX as stored: SQLite orders NULL <
    numbers < text < blob, so their Python types tell whether the column mixes numbers and text (measured ~8x
    cheaper per column than counting typeof() classes), and a 16-hex end flags asset hashes. A configuration
    column may instead be profiled by its `values` in the per-configuration pass. NULL counts are None when not
    counted."""

    profiled: bool = False
    low: object = None
    high: object = None
    values: list | None = None
    null_replayed: int | None = None

    @property
    def seen(self) -> list:
        """What is known of the stored values: both ends, or the configuration values."""
        return [self.low, self.high] if self.values is None else list(self.values)

    def storage_classes(self) -> set[str]:
        """Subsets of {'number', 'text', 'blob'} seen among the values."""
        return {k for k in map(_storage_class, self.seen) if k}

    @property
    def varies(self) -> bool:
        return self.low != self.high


@dataclass
class PassStats:
    """What the global pass (and the configuration groups) counted; NULL-free integers."""

    rows: int = 0
    computed: int = 0
    replayed: int = 0
    failed_computed: int = 0
    failed_replayed: int = 0
    returned_failed: int = 0  # computed track() calls that returned their failure (cached)
    no_config_computed: int = 0
    no_config_replayed: int = 0
    cache_null: int = 0
    no_input_ok: int = 0  # successful rows with no input id
    items: int | None = None  # the union of items over configurations (None: no input id)
    distinct_inputs: int | None = None  # the input ids behind those items
    replicates: int | None = None  # the replicates (seeds) behind them; None without replicate columns
    train_items: int = 0
    eval_items: int = 0
    overlap_items: int = 0
    gt_conflicts: int = 0
    # The least and greatest message (as text) of failed computed rows: equal when there is one message, and
    # then check_failures needs no query of its own to name it.
    failure_low: str | None = None
    failure_high: str | None = None
    columns: dict[str, ColumnProfile] = field(default_factory=dict)

    def column(self, name: str) -> ColumnProfile:
        return self.columns.setdefault(name, ColumnProfile())


def key_holds_parameters(layout: Layout) -> bool:
    """The configuration key is made of the parameter columns themselves (not config_id): then NULL counts
    and stored types of parameters are read off the per-configuration pass instead of costing the global one."""
    return layout.config_from in ("parameters", "user") and set(layout.parameters) <= set(layout.config)


def global_pass(bench: Benchmark, source: str, layout: Layout) -> PassStats:
    """Counts over every row, and the distinct inputs of all configurations together (the coverage union)."""
    aggregates = global_aggregates(layout)
    row = bench.query(f"SELECT {', '.join(a.sql for a in aggregates)} FROM {source}")[0]
    stats = global_stats(aggregates, row)
    for name, value in input_pass(bench, source, layout).items():
        setattr(stats, name, value)
    return stats


@dataclass
class Aggregate:
    """One value of the global pass: `name` is a PassStats count, 'failure_low'/'failure_high', or a column's
    profile field ('low', 'high', 'null_replayed' of `column`); `combine` merges it over groups (SUM, MIN,
    MAX), for a pass that computes it per configuration."""

    name: str
    sql: str
    combine: str
    column: str | None = None


def global_aggregates(layout: Layout) -> list[Aggregate]:
    """What the global pass computes, in one SELECT list."""
    L = layout
    from_configs = key_holds_parameters(L)
    # Counts that follow from others are derived after the query (computed = rows - replayed, ...): every
    # aggregate costs a step per row. `replayed` and `failed` are never NULL, so the subtractions are exact.
    counts: dict[str, str] = {
        "rows": "COUNT(*)",
        "replayed": count_if(L.replayed),
        "failed": count_if(L.failed),
        "failed_replayed": count_if(f"({L.replayed}) AND ({L.failed})"),
        "returned_failed": count_if(returned_failure(L)),
    }
    if not from_configs:
        counts["no_config"] = count_if(L.no_configuration())
        counts["no_config_replayed"] = count_if(f"({L.replayed}) AND ({L.no_configuration()})")
    if L.cache:
        counts["cache_null"] = count_if(f"{q(L.cache)} IS NULL")
    if L.input_id:
        counts["no_input_ok"] = count_if(f"{q(L.input_id)} IS NULL AND {L.succeeded}")
    out = [Aggregate(name, sql, "SUM") for name, sql in counts.items()]
    if not from_configs:
        out += [Aggregate("null_replayed", count_if(f"({L.replayed}) AND {q(p)} IS NULL"), "SUM", p)
                for p in dict.fromkeys(L.config + L.parameters)]
    if L.error:
        failed_computed = f"({L.computed}) AND ({L.failed})"
        out += [Aggregate("failure_low", when("MIN", as_text(q(L.error)), failed_computed), "MIN"),
                Aggregate("failure_high", when("MAX", as_text(q(L.error)), failed_computed), "MAX")]
    # DuckDB reads each value in its column's declared type and refuses a column holding another
    # (validate_benchmark then reads the file through sqlite3), so MIN/MAX through either engine profile it.
    skip = set(L.config) if from_configs else set()
    ends = dict.fromkeys([*([L.function] if L.function else []), *L.versions,
                          *(c.name for c in L.profiled if c.name not in skip)])
    for col in ends:
        out += [Aggregate("low", f"MIN({q(col)})", "MIN", col), Aggregate("high", f"MAX({q(col)})", "MAX", col)]
    return out


def global_stats(aggregates: list[Aggregate], row) -> PassStats:
    """PassStats from the values of `global_aggregates` (the input pass's fields are left to it)."""
    stats, n = PassStats(), {}
    for a, value in zip(aggregates, row, strict=True):
        if a.column is not None:
            profile = stats.column(a.column)
            setattr(profile, a.name, value if a.name in ("low", "high") else value or 0)
            profile.profiled = profile.profiled or a.name in ("low", "high")
        elif a.combine == "SUM":
            n[a.name] = value or 0
        else:
            setattr(stats, a.name, value)
    stats.rows, stats.replayed = n["rows"], n["replayed"]
    stats.computed = n["rows"] - n["replayed"]
    stats.failed_replayed, stats.failed_computed = n["failed_replayed"], n["failed"] - n["failed_replayed"]
    stats.returned_failed = n["returned_failed"]
    stats.cache_null, stats.no_input_ok = n.get("cache_null", 0), n.get("no_input_ok", 0)
    stats.no_config_replayed = n.get("no_config_replayed", 0)
    stats.no_config_computed = n.get("no_config", 0) - stats.no_config_replayed
    return stats


def input_pass(bench: Benchmark, source: str, layout: Layout, inner_extra: dict | None = None,
               outer_extra: dict | None = None, join: str = "", params: list | None = None) -> dict:
    """One GROUP BY over inputs (replicate and input id, split aside): the union of inputs the coverage check
    compares against, inputs with several ground truths, inputs in both the training and evaluation split.
    A narrow integer-keyed GROUP BY costs about one COUNT(DISTINCT); joining columns into a text key would
    cost three times that. `inner_extra` (per input) and `outer_extra` (over inputs) add aggregates; `join` a
    JOIN clause after the source (with `params`)."""
    L = layout
    item = L.item_key(with_split=False)
    if not item:
        return {}
    inner = {"n": "COUNT(*)", "input": f"MIN({q(L.input_id)})"}
    outer = {"distinct_inputs": "COUNT(DISTINCT input)"}
    if L.repetition:  # the seeds behind the items (under repeated CV the fold splits a seed's run)
        inner["repetition"] = f"MIN({_joined(L.repetition)})"
        outer["replicates"] = "COUNT(DISTINCT repetition)"
    if L.split:
        # A training and a test prediction of one input are two items for coverage.
        inner["splits"] = f"COUNT(DISTINCT COALESCE({as_text(q(L.split))}, ''))"
        outer["items"] = "SUM(splits)"
        lower = f"LOWER({as_text(q(L.split))})"
        inner["train"] = f"MAX({flag(f'{lower} IN ({chr(44).join(map(literal, TRAIN_VALUES))})')})"
        inner["eval"] = f"MAX({flag(f'{lower} IN ({chr(44).join(map(literal, EVAL_VALUES))})')})"
        outer.update({"train_items": "SUM(train)", "eval_items": "SUM(eval)",
                      "overlap_items": "SUM(CASE WHEN train = 1 AND eval = 1 THEN 1 ELSE 0 END)"})
    else:
        outer["items"] = "COUNT(*)"
    if L.ground_truth:
        # Versions aside: a ground truth that changed between versions is checked when this fires.
        inner["truths"] = f"COUNT(DISTINCT {q(L.ground_truth)})"
        outer["gt_conflicts"] = "SUM(CASE WHEN truths > 1 THEN 1 ELSE 0 END)"
    inner.update(inner_extra or {})
    outer.update(outer_extra or {})
    inner_sql = ", ".join(f"{v} AS {k}" for k, v in inner.items())
    sql = (f"SELECT {', '.join(outer.values())} FROM (SELECT {inner_sql} FROM {source} {join} "
           f"WHERE {q(L.input_id)} IS NOT NULL AND NOT ({L.no_configuration()}) GROUP BY {item}) g")
    row = bench.query(sql, params or ())[0]
    return {k: v or 0 for k, v in zip(outer, row, strict=True)}


def _joined(columns: list[str]) -> str:
    return " || '|' || ".join(f"COALESCE({as_text(q(c))}, '')" for c in columns)


def _storage_class(value) -> str | None:
    if isinstance(value, (int, float)):  # bool too: DuckDB-engine files declare BOOLEAN
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bytes):
        return "blob"
    return None


def add_configuration_stats(stats: PassStats, layout: Layout, key: list[str], configs: list) -> list:
    """When the key is made of the parameters, derive their NULL counts and stored types from the groups (with
    SQLite a GROUP BY returns each value as stored); return the configurations that have any configuration."""
    if not key_holds_parameters(layout):
        return [c for c in configs if c.configured]
    cols = list(dict.fromkeys(layout.config + layout.parameters))
    index = {k: i for i, k in enumerate(key)}
    stats.no_config_computed = sum(c.rows - c.replayed for c in configs if not c.configured)
    stats.no_config_replayed = sum(c.replayed for c in configs if not c.configured)
    for p in cols:
        nulls = [c for c in configs if c.key[index[p]] is None]
        profile = stats.column(p)
        profile.null_replayed = sum(c.replayed for c in nulls)
        if not profile.profiled:  # not profiled by the global pass: the group values say it
            profile.values = [c.key[index[p]] for c in configs if c.key[index[p]] is not None]
            profile.profiled = True
    return [c for c in configs if c.configured]


def looks_like_asset_hash(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{16}", value) is not None


def versions_mixed(layout: Layout, stats: PassStats) -> list[str]:
    return [v for v in layout.versions if stats.column(v).varies]


# --- pass 2: per configuration -----------------------------------------------------------------------

@dataclass
class ConfigStats:
    key: tuple  # values of the configuration key columns
    rows: int
    replayed: int
    failed: int
    computed_ok: int
    items: int  # distinct inputs with any row
    items_computed_ok: int  # distinct inputs computed successfully
    items_succeeded: int | None  # distinct inputs with a row that did not fail (None: no error column)
    parameters: dict  # parameter values (when the key is config_id)
    configured: bool = True  # False for the group of rows with no configuration at all


def config_key(layout: Layout) -> list[str]:
    """Columns that tell configurations apart: the function (two functions on one input are two different
    executions) and the configuration columns."""
    return ([layout.function] if layout.function else []) + layout.config


def config_pass(bench: Benchmark, source: str, layout: Layout, key: list[str],
                excluded: str | None = None) -> list[ConfigStats]:
    """Per configuration: rows, replays, failures, successful computations, and distinct inputs (all, computed
    successfully, with any success). Rows with no configuration (or `excluded`) are left out.

    Shaped per engine, as measured at 10 M rows: SQLite counts distinct inputs per group (its sorter is slow
    on wide text keys); DuckDB groups by (configuration, input) and then by configuration (hash aggregates,
    2.6x faster than its distinct aggregates under a memory limit). Independent of the global pass, so the
    two can run at the same time."""
    L = layout
    # Rows with no configuration stay in (as their own group, `configured` False) when the key holds the
    # parameters: their counts then cost nothing extra. Otherwise they are filtered out here.
    where = ([] if key_holds_parameters(L) else [f"NOT ({L.no_configuration()})"]) + \
        ([f"NOT ({excluded})"] if excluded else [])
    where = where or ["1 = 1"]
    config_index = [key.index(c) for c in dict.fromkeys(L.config + L.parameters) if c in key]
    extra = [p for p in L.parameters if p not in key] if L.config_from == "config_id" else []
    item = L.item_key()
    if bench.engine == "duckdb" and item:
        e, sql = _two_level(source, layout, key, where, extra, item)
    else:
        e = {"rows": "COUNT(*)", "replayed": count_if(L.replayed), "failed": count_if(L.failed),
             "computed_ok": count_if(L.computed_ok)}
        if item:
            e["items"] = f"COUNT(DISTINCT {item})"
            e["items_computed_ok"] = f"COUNT(DISTINCT CASE WHEN {L.computed_ok} THEN {item} END)"
            if L.error:
                e["items_succeeded"] = f"COUNT(DISTINCT CASE WHEN {L.succeeded} THEN {item} END)"
        for p in extra:
            e[f"param:{p}"] = f"MIN({q(p)})"
        group = f" GROUP BY {', '.join(q(k) for k in key)}" if key else ""
        sql = (f"SELECT {', '.join([*(q(k) for k in key), *e.values()])} FROM {source} "
               f"WHERE {' AND '.join(where)}{group}")
    names = list(e)
    out = []
    for row in bench.query(sql):
        values = dict(zip(names, row[len(key):], strict=True))
        out.append(ConfigStats(
            key=tuple(row[:len(key)]), rows=values["rows"], replayed=values["replayed"] or 0,
            failed=values["failed"] or 0, computed_ok=values["computed_ok"] or 0, items=values.get("items", 0),
            items_computed_ok=values.get("items_computed_ok", 0), items_succeeded=values.get("items_succeeded"),
            parameters={p: values[f"param:{p}"] for p in extra},
            configured=not config_index or any(row[i] is not None for i in config_index)))
    return sort_configs(out)


def sort_configs(configs: list[ConfigStats]) -> list[ConfigStats]:
    """In key order, NULLs last, whatever the types of the key's values."""
    return sorted(configs, key=lambda c: tuple((v is None, str(type(v)), v) for v in c.key))


def _two_level(source: str, layout: Layout, key: list[str], where: list[str], extra: list[str],
               item: str) -> tuple[dict, str]:
    L = layout
    inner = {"n": "COUNT(*)", "rep": f"SUM({flag(L.replayed)})", "fail": f"SUM({flag(L.failed)})",
             "ok": f"SUM({flag(L.computed_ok)})", "succ": f"SUM({flag(L.succeeded)})"}
    inner.update({f"p{i}": f"MIN({q(p)})" for i, p in enumerate(extra)})
    present = "_item IS NOT NULL"
    outer = {"rows": "SUM(n)", "replayed": "SUM(rep)", "failed": "SUM(fail)", "computed_ok": "SUM(ok)",
             "items": f"SUM({flag(present)})", "items_computed_ok": f"SUM({flag(f'{present} AND ok > 0')})"}
    if L.error:
        outer["items_succeeded"] = f"SUM({flag(f'{present} AND succ > 0')})"
    outer.update({f"param:{p}": f"MIN(p{i})" for i, p in enumerate(extra)})
    keys = [q(k) for k in key]
    inner_sql = ", ".join([*keys, f"{item} AS _item", *(f"{v} AS {k}" for k, v in inner.items())])
    sql = (f"SELECT {', '.join([*keys, *outer.values()])} FROM (SELECT {inner_sql} FROM {source} "
           f"WHERE {' AND '.join(where)} GROUP BY {', '.join([*keys, item])}) g"
           + (f" GROUP BY {', '.join(keys)}" if keys else ""))
    return outer, sql


def config_label(key_cols: list[str], key: tuple) -> str:
    """A configuration as every report names it (and --reference accepts it back)."""
    return label(key_cols, key) or "(single configuration)"


def where_config(key_cols: list[str], key: tuple) -> tuple[str, list]:
    """SQL predicate selecting one configuration (NULL-safe), with its parameters."""
    parts, params = [], []
    for c, v in zip(key_cols, key, strict=True):
        if v is None:
            parts.append(f"{q(c)} IS NULL")
        else:
            parts.append(f"{q(c)} = ?")
            params.append(v)
    return (" AND ".join(parts) or "1 = 1"), params
