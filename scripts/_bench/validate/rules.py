"""The checks of validate_benchmark.py: each reads the aggregate passes and, only when it fires, queries examples.

Every check has a stable id, says what it found and how to fix it, and names why it was skipped when it
cannot apply. Checks are orthogonal: rows one check reports (rows with no configuration, replayed rows that
lost their parameters) are left out of the others.
"""

from __future__ import annotations

import base64
import pickle
import re
from dataclasses import dataclass, field

from _bench.cache_diagnosis import ELSEWHERE, FIX_ENABLE, FIX_KEYS, PROCESS_HASH, UNHASHABLE, cached_failures
from _bench.cli import MAX_EXAMPLES, Finding
from _bench.layout import EVAL_VALUES, TRAIN_VALUES, short_labels, strata
from _bench.reader import Benchmark
from _bench.sql import as_text, flag, literal, numeric, q
from _bench.summary.plan import PREDICTION_NAMES, first_named
from _bench.validate.passes import (
    ASSET_HASH_GLOB,
    ConfigStats,
    Layout,
    PassStats,
    config_label,
    looks_like_asset_hash,
    versions_mixed,
    where_config,
)

# check id -> (what it looks for, one line). The ids are stable: CI configurations may refer to them.
CHECKS = {
    "duplicate-executions": "the same configuration and input computed more than once",
    "unequal-coverage": "configurations evaluated on different sets of inputs",
    "failed-executions": "error rate overall and per configuration, most common errors",
    "missing-parameters": "rows whose configuration columns are NULL",
    "missing-parameters.replayed-rows": "cache-hit rows that lost their dataclass-unpacked columns",
    "missing-input-id": "successful rows with no input id",
    "schema-drift.renamed-parameter": "a parameter column used in some runs, another name in the others",
    "schema-drift.mixed-types": "a column whose stored type changes between rows or runs",
    "schema-drift.asset-hashes": "numbers stored as xetrack asset hashes (numpy scalars logged)",
    "mixed-versions": "several code/data/experiment versions in one comparison",
    "train-test-overlap": "inputs present in both the training and the evaluation split",
    "inconsistent-ground-truth": "one input id with several ground-truth values",
    "cached-failures": "failures replayed from the cache, or returned (so cached) instead of raised",
    "cache-ineffective": "a cache was intended yet re-runs recomputed",
    "missing-shards": "a sharded run (rows name their shard K/N) missing some of its N shards, or mixing splits",
    "same-as-reference": "with --same-as REF: keys or outcome values that differ from a reference run's",
}


@dataclass
class Options:
    max_error_rate: float = 0.05
    same_as: list[str] | None = None  # a reference run's files (--same-as): the same-as-reference check
    filters: list[str] | None = None  # --filter, applied to the reference alike
    replicate_cols: list[str] | None = None  # --replicate-cols: the columns numbering repeats of one input


@dataclass
class Context:
    bench: Benchmark
    source: str
    layout: Layout
    stats: PassStats
    key: list[str]  # configuration key columns as grouped: function_name (when present) and the configuration
    configs: list[ConfigStats]
    options: Options
    excluded: str | None = None  # rows left out of the per-configuration checks (reported elsewhere)
    loss: dict = field(default_factory=lambda: {"columns": {}, "unconfirmed": 0, "carried": []})  # detect_replay_loss
    ran: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    compared: dict | None = None  # what --same-as found (reference.py), for the summary
    coverage_within: dict | None = None  # coverage complete within each dataset (check_coverage), for the summary
    _duplicates: dict | None = None
    _partial: list | None = None
    _names: dict | None = None

    def attributed(self) -> str:
        parts = [f"NOT ({self.layout.no_configuration()})"]
        if self.excluded:
            parts.append(f"NOT ({self.excluded})")
        return " AND ".join(parts)

    def name(self, key: tuple) -> str:
        """A configuration as an example shows it. Beside a config_id key (a hash) the parameters it stands for
        lead, `model=svm (config_id=f61881c458353443)`, as export_summary's tables name it; else its key."""
        if self._names is None:
            self._names = parameter_names(self)
        plain = config_label(self.key, tuple(key))
        named = self._names.get(tuple(key))
        return f"{named} ({plain})" if named else plain


def parameter_names(ctx: Context) -> dict[tuple, str]:
    """The parameters behind each config_id key, labelled by what tells configurations apart (short_labels).
    One query, run only when a finding names configurations; {} when the key is not a config_id."""
    L = ctx.layout
    shown = [p for p in L.parameters if p not in ctx.key]
    if L.config_from != "config_id" or not shown:
        return {}
    present = " OR ".join(f"{q(p)} IS NOT NULL" for p in shown)
    first: dict[tuple, dict] = {}
    for row in ctx.bench.iterate(f"SELECT DISTINCT {', '.join(q(c) for c in [*ctx.key, *shown])} FROM {ctx.source} "
                                 f"WHERE {ctx.attributed()} AND ({present})"):
        first.setdefault(tuple(row[:len(ctx.key)]), dict(zip(shown, row[len(ctx.key):], strict=True)))
    return dict(zip(first, short_labels(list(first.values())), strict=True))


def pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


# --- duplicates and caching --------------------------------------------------------------------------

def duplicate_groups(ctx: Context) -> dict:
    """(configuration, input) groups computed successfully more than once: count, spread over runs, examples.
    Shared by duplicate-executions and cache-ineffective; one sort of the successful rows, only when needed."""
    if ctx._duplicates is not None:
        return ctx._duplicates
    L = ctx.layout
    item = L.item_key(bool(versions_mixed(L, ctx.stats)))
    cols = [*(q(k) for k in ctx.key), item]
    run_min = f"MIN({q(L.run)})" if L.run else "NULL"
    run_max = f"MAX({q(L.run)})" if L.run else "NULL"
    cache_null = f"SUM({flag(f'{q(L.cache)} IS NULL')})" if L.cache else "COUNT(*)"
    # Whether the executions of one pair gave different outputs: nondeterminism, or a change between runs that
    # nothing recorded (model snapshot, prompt, temperature). A NULL beside a value differs too.
    pred = first_named(PREDICTION_NAMES, list(L.columns))
    differ = (f"CASE WHEN MIN({q(pred)}) <> MAX({q(pred)}) OR (COUNT({q(pred)}) > 0 AND COUNT({q(pred)}) < "
              f"COUNT(*)) THEN 1 ELSE 0 END" if pred else "0")
    sql = (f"SELECT {', '.join(cols)}, COUNT(*), {run_min}, {run_max}, {cache_null}, {differ} FROM {ctx.source} "
           f"WHERE {L.computed_ok} AND {q(L.input_id)} IS NOT NULL AND {ctx.attributed()} "
           f"GROUP BY {', '.join(cols)} HAVING COUNT(*) > 1 ORDER BY {', '.join(cols)}")
    out = {"groups": 0, "extra": 0, "cross_run": 0, "cache_null_rows": 0, "rows": 0, "examples": [],
           "output": pred, "differ": 0}
    nkey = len(ctx.key)
    for row in ctx.bench.iterate(sql):
        n, r0, r1, nulls, differs = row[nkey + 1:]
        out["groups"] += 1
        out["extra"] += n - 1
        out["rows"] += n
        out["cross_run"] += int(r0 != r1)
        out["cache_null_rows"] += nulls or 0
        out["differ"] += differs
        if len(out["examples"]) < MAX_EXAMPLES:
            out["examples"].append({"configuration": ctx.name(row[:nkey]), "input": row[nkey],
                                    "executions": n, "runs": sorted({r0, r1} - {None}),
                                    **({f"{pred}_differs": bool(differs)} if pred else {})})
    ctx._duplicates = out
    return out


def has_duplicates(ctx: Context) -> bool:
    """Per configuration, successful computed rows outnumber the inputs they cover (read off the config pass)."""
    return any(c.computed_ok > c.items_computed_ok for c in ctx.configs)


def check_duplicates(ctx: Context) -> list[Finding]:
    if not has_duplicates(ctx):
        return []
    d = duplicate_groups(ctx)  # exact, and per version when versions are mixed (a re-run under new code)
    if not d["groups"]:
        return []
    L = ctx.layout
    replicate = (f"Replicate columns ({', '.join(L.replicate)}) are already part of the key, so these are "
                 "not intended repeats. " if L.replicate else
                 "If they are intended repeats, record a seed/replicate column (seed, repeat, fold) so they are "
                 "told apart, or name the one they have with --replicate-cols COL. ")
    differ = ""
    if d["output"]:
        differ = (f" In {d['differ']} of them the executions gave different `{d['output']}` values: the outputs "
                  "are not reproducible (sampling, or a change between runs that no column records: model "
                  "snapshot, prompt, temperature); compare the runs before keeping one." if d["differ"] else
                  f" Their `{d['output']}` values agree.")
    return [Finding(
        "duplicate-executions", "error",
        f"{d['groups']} {_pair(ctx)} pairs were computed successfully more than once "
        f"({d['extra']} extra executions; {d['cross_run']} pairs in different runs). Cache replays are not "
        f"counted. Averages over rows weigh these inputs more than the others.{differ}",
        replicate + "Otherwise keep one row per configuration and input before analysis (export_summary.py "
        "counts the first logged), and route calls through Tracker(cache=...) with stable arguments so a re-run "
        "replays instead of recomputing.",
        d["examples"], d["groups"])]


def _pair(ctx: Context) -> str:
    """What one counted pair is: (configuration, input), or with seeds or a split the item they make up, so a
    count of (configuration, problem_id + sample_idx) pairs is not read as a count of problems."""
    parts = [*ctx.layout.item_columns, *([ctx.layout.split] if ctx.layout.split else [])]
    return "(configuration, input)" if len(parts) <= 1 else f"(configuration, {' + '.join(parts)})"


def check_cache_ineffective(ctx: Context) -> list[Finding]:
    if not has_duplicates(ctx):
        return []
    d = duplicate_groups(ctx)
    if not d["cross_run"]:
        return []
    L, s = ctx.layout, ctx.stats
    if not L.cache:
        cause = (f"There is no 'cache' column: either no cache was configured, or {UNHASHABLE}. {FIX_ENABLE}")
    elif d["cache_null_rows"] * 2 >= d["rows"]:
        cause = f"The recomputed calls have cache = NULL: {UNHASHABLE}. {FIX_KEYS}"
    else:
        cause = (f"The recomputed calls were cacheable but missed (cache = ''): {PROCESS_HASH}; or {ELSEWHERE}. "
                 f"{FIX_KEYS}")
    what = "did nothing" if s.replayed == 0 else f"missed on {d['cross_run']} re-run {_pair(ctx)} pairs"
    return [Finding(
        "cache-ineffective", "warning",
        f"Caching {what}: {d['cross_run']} {_pair(ctx)} pairs were computed again in a later run "
        f"although a cache {'is configured' if L.cache else 'was evidently intended (re-runs exist)'}; "
        f"{s.replayed} rows were replayed in all.",
        cause, d["examples"], d["cross_run"])]


def check_cached_failures(ctx: Context) -> list[Finding]:
    return cached_failures(ctx.bench, ctx.source, ctx.layout, ctx.stats.failed_replayed,
                           ctx.stats.returned_failed)


# --- coverage and failures ---------------------------------------------------------------------------

def check_coverage(ctx: Context) -> list[Finding]:
    union = ctx.stats.items
    phantom = {e["_key"] for e in partially_missing(ctx)}  # reported by missing-parameters
    paired = [c for c in ctx.configs if c.items and c.key not in phantom]  # no input id: missing-input-id
    if not any(c.items < union for c in paired):
        return []
    nesting = _nesting_stratum(ctx, paired)
    # Each configuration's own set of inputs: every input, or with a dataset column the inputs nest in, its
    # dataset's (a configuration on fiqa does not "lack" scifact's queries).
    expected = {c.key: nesting[1][c.key[nesting[2]]] if nesting else union for c in paired}
    short = [c for c in paired if c.items < expected[c.key]]
    if nesting and not short:
        col, per_value = nesting[0], nesting[1]
        ctx.coverage_within = {"column": col, "items": {str(v): n for v, n in sorted(per_value.items(),
                                                                                     key=lambda t: str(t[0]))}}
        return []
    shown = sorted(short, key=lambda c: c.items - expected[c.key])[:MAX_EXAMPLES]
    within = (nesting[0], nesting[2]) if nesting else None
    missing = _missing_inputs(ctx, shown, within)
    examples = [{"configuration": ctx.name(c.key), "inputs": c.items, "missing": expected[c.key] - c.items,
                 "missing_examples": found} for c, found in zip(shown, missing, strict=True)]
    parts = ctx.layout.item_key_columns()
    read_as = f" An input here is {'|'.join(parts)} (as the examples show it)." if len(parts) > 1 else ""
    of = (f"lack inputs that others of their {nesting[0]} have (each {nesting[0]} with its own inputs: "
          f"{', '.join(f'{v} {n:,}' for v, n in sorted(nesting[1].items(), key=lambda t: str(t[0])))})"
          if nesting else f"lack inputs that others have (all together: {union} inputs)")
    return [Finding(
        "unequal-coverage", "error",
        f"Configurations were evaluated on different inputs: {len(short)} of {len(paired)} configurations "
        f"{of}. A difference in their scores mixes a difference in data with the difference in configuration."
        f"{read_as}{_shard_of_missing(ctx, missing)}",
        "Run the missing (configuration, input) pairs (with a cache, re-running the whole grid computes only "
        "what is missing), or compare only on the inputs every configuration has (export_summary.py pairs "
        f"shared items).{_resume_hint(ctx)}",
        examples, len(short))]


def _nesting_stratum(ctx: Context, paired: list) -> tuple[str, dict, int] | None:
    """A dataset column (fiqa, scifact: each with its own query ids) that the inputs nest in (each input under
    one value), with several configurations per value: (column, inputs per value, its position in the key).
    Coverage is then judged within each value. One GROUP BY per such column, only when coverage is uneven."""
    item = ctx.layout.item_key()
    for col in strata(ctx.layout.config):
        at = ctx.key.index(col)
        per_value = dict(ctx.bench.query(
            f"SELECT {q(col)}, COUNT(DISTINCT {item}) FROM {ctx.source} WHERE {ctx.attributed()} AND {item} IS "
            f"NOT NULL GROUP BY {q(col)}"))
        configs_per_value: dict = {}
        for c in paired:
            configs_per_value.setdefault(c.key[at], []).append(c)
        nested = sum(per_value.values()) == ctx.stats.items  # an input under two values would count twice
        if nested and all(len(cs) >= 2 for cs in configs_per_value.values()):
            return col, per_value, at
    return None


def _shard_of_missing(ctx: Context, missing: list[list]) -> str:
    """Where the other configurations' rows of the missing inputs were written, when rows name their shard and
    it is one shard: a split by input puts an input's rows in one shard, so that shard stopped early."""
    shard, items = shard_column(ctx.layout), [i for found in missing for i in found]
    if not shard or not items:
        return ""
    marks = ", ".join("?" for _ in items)
    found = [v for (v,) in ctx.bench.query(f"SELECT DISTINCT {as_text(q(shard))} FROM {ctx.source} WHERE "
                                           f"{ctx.layout.item_key()} IN ({marks}) AND {q(shard)} IS NOT NULL",
                                           items)]
    if len(found) != 1:
        return ""
    return (f" Every row of the missing inputs that other configurations have is in shard {found[0]}: that shard "
            "most likely stopped before it finished.")


def _resume_hint(ctx: Context) -> str:
    shard = shard_column(ctx.layout)
    return (f" The rows name their shard (`{shard}`): a shard whose process stopped early (killed, a lost worker) "
            "leaves its part missing; run its --shard K/N command again, which resumes and computes only what its "
            "file lacks, gather the files and validate again." if shard else "")


def _missing_inputs(ctx: Context, configs: list, within: tuple[str, int] | None = None,
                    limit: int = 3) -> list[list]:
    """For each configuration, the first `limit` inputs (in SQL order) that some attributed row has and none of
    its rows has; with `within` (a dataset column the inputs nest in, its position in the key), only inputs of
    the configuration's own dataset. One GROUP BY input for all of them: a query per configuration with NOT IN
    (SELECT ...) scanned the table twice each, 5 configurations = 10 scans (about 5 s at 2 M rows)."""
    item = ctx.layout.item_key()
    flags, params, lacking = [], [], []
    for i, c in enumerate(configs):
        where, p = where_config(ctx.key, c.key)
        flags.append(f"MAX(CASE WHEN {where} THEN 1 ELSE 0 END) AS h{i}")
        params += p
        if within is not None:
            in_stratum, p = where_config([within[0]], (c.key[within[1]],))
            flags.append(f"MAX(CASE WHEN {in_stratum} THEN 1 ELSE 0 END) AS s{i}")
            params += p
            lacking.append(f"(h{i} = 0 AND s{i} = 1)")
        else:
            lacking.append(f"h{i} = 0")
    sql = (f"SELECT * FROM (SELECT {item} AS item_, {', '.join(flags)}, "
           f"MAX(CASE WHEN {ctx.attributed()} THEN 1 ELSE 0 END) AS attributed_ FROM {ctx.source} "
           f"WHERE {item} IS NOT NULL GROUP BY {item}) AS g WHERE attributed_ = 1 AND ({' OR '.join(lacking)}) "
           "ORDER BY 1")
    step = 2 if within is not None else 1
    found: list[list] = [[] for _ in configs]
    for row in ctx.bench.iterate(sql, params):
        for i in range(len(configs)):
            has, in_stratum = row[1 + step * i], (row[2 + step * i] if within is not None else 1)
            if not has and in_stratum and len(found[i]) < limit:
                found[i].append(row[0])
        if all(len(f) >= limit for f in found):
            break
    return found


def check_failures(ctx: Context) -> list[Finding]:
    s, L, limit = ctx.stats, ctx.layout, ctx.options.max_error_rate
    failed, computed = s.failed_computed, s.computed
    if not failed:
        return []
    if s.failure_low is not None and s.failure_low == s.failure_high:  # one message: the global pass named it
        top = [(s.failure_low, failed)]
    else:
        top = ctx.bench.query(
            f"SELECT {as_text(q(L.error))}, COUNT(*) FROM {ctx.source} WHERE {L.computed} AND {L.failed} "
            f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {MAX_EXAMPLES}")
    unfinished = {c.key: c.items - c.items_succeeded for c in ctx.configs if c.items_succeeded is not None}
    rate = failed / computed if computed else 0.0
    worst = sorted(ctx.configs, key=lambda c: c.failed / c.rows if c.rows else 0, reverse=True)
    over = [c for c in ctx.configs if c.rows and c.failed / c.rows > limit]
    per_config = [{"configuration": ctx.name(c.key), "failed": c.failed, "rows": c.rows,
                   "error_rate": round(c.failed / c.rows, 4) if c.rows else None,
                   "inputs_without_success": unfinished.get(c.key)}
                  for c in worst if c.failed]
    common = "; ".join(f"{e!r} x{n}" for e, n in top)
    if L.kind == "load":
        return _load_errors(failed, computed, rate, over, limit, common, per_config)
    never = sum(unfinished.values())
    if rate > limit or over:
        severity = "error"
        verdict = f"above --max-error-rate {limit:g}" + (f" in {len(over)} configurations" if over else " overall")
    elif never:
        severity = "warning"
        verdict = f"within --max-error-rate {limit:g}, but {never} {_pair(ctx)} pairs never succeeded"
    else:
        severity, verdict = "info", f"within --max-error-rate {limit:g}, and every failed input succeeded later"
    return [Finding(
        "failed-executions", severity,
        f"{failed} of {computed} computed rows failed ({pct(failed, computed)}), {verdict}. Most common: {common}.",
        "Fix the cause, then re-run: raised exceptions are not cached, so a re-run retries only the failures. "
        "Compare configurations on inputs where every one succeeded (export_summary.py's default), or count "
        "failures as wrong answers (export_summary.py --failures wrong), and say which.",
        per_config, len(per_config))]


def _load_errors(failed: int, computed: int, rate: float, over: list, limit: float, common: str,
                 per_level: list[dict]) -> list[Finding]:
    """A load test's failed requests are its measurement (an overloaded service times out): reported per level
    with the dominant error, a warning above --max-error-rate, never an error. A level where nothing was
    measured at all is an error row in its `levels` table, which validate reports there."""
    severity = "warning" if rate > limit or over else "info"
    return [Finding(
        "failed-executions", severity,
        f"Load test: {failed} of {computed} requests failed ({pct(failed, computed)}); "
        f"{len(over)} levels above --max-error-rate {limit:g}. Under load, failures are the measurement, not a "
        f"defect of the benchmark. Most common: {common}.",
        "Read the error rate per level beside its latency (export_summary.py --slo 'p99<...ms, errors<1%'); if "
        "the lowest levels fail too, the client or the endpoint is misconfigured.",
        per_level, len(per_level))]


# --- parameters --------------------------------------------------------------------------------------

def detect_replay_loss(bench: Benchmark, source: str, layout: Layout, stats: PassStats) -> dict:
    """Replayed rows whose parameter columns are NULL while the computed row of the *same call* has them.

    xetrack 0.7.0 unpacks dataclass arguments into `<arg>_<field>` columns only when it computes; a cache hit
    logs the row without them. The same call is the same (function_name, args, kwargs): `args` holds the
    repr of every argument, hit or miss. Returns {'columns': {col: rows}, 'unconfirmed': rows, 'carried': cols},
    `carried` naming the columns that still tell the replayed rows' configurations apart (then nothing is lost).
    """
    L = layout
    cols = [p for p in dict.fromkeys(L.config + L.parameters) if stats.column(p).null_replayed]
    result = {"columns": {}, "unconfirmed": 0, "carried": []}
    names = {c.name for c in bench.columns}
    if not cols or not L.cache or not {"function_name", "args", "kwargs"} <= names:
        return result
    call = "function_name, args, COALESCE(kwargs, '')"
    nulls = ", ".join(f"SUM({flag(f'{q(p)} IS NULL')}) AS n{i}" for i, p in enumerate(cols))
    any_null = " OR ".join(f"{q(p)} IS NULL" for p in cols)
    bench.execute("DROP TABLE IF EXISTS temp._lost")
    bench.execute(f"CREATE TEMP TABLE _lost AS SELECT function_name AS f, args AS a, COALESCE(kwargs, '') AS k, "
                  f"COUNT(*) AS n, {nulls} FROM {source} WHERE ({L.replayed}) AND ({any_null}) GROUP BY 1, 2, 3")
    has = ", ".join(f"MAX({flag(f'{q(p)} IS NOT NULL')}) AS h{i}" for i, p in enumerate(cols))
    bench.execute("DROP TABLE IF EXISTS temp._seen")
    bench.execute(f"CREATE TEMP TABLE _seen AS SELECT function_name AS f, args AS a, COALESCE(kwargs, '') AS k, "
                  f"{has} FROM {source} WHERE ({L.computed}) AND ({call}) IN (SELECT f, a, k FROM temp._lost) "
                  f"GROUP BY 1, 2, 3")
    sums = ", ".join(f"SUM(CASE WHEN s.h{i} = 1 THEN l.n{i} ELSE 0 END)" for i in range(len(cols)))
    row = bench.query(f"SELECT {sums}, SUM(CASE WHEN s.f IS NULL THEN l.n ELSE 0 END) FROM temp._lost l "
                      f"LEFT JOIN temp._seen s ON s.f = l.f AND s.a = l.a AND s.k = l.k")[0]
    result["columns"] = {p: n for p, n in zip(cols, row[:-1], strict=True) if n}
    result["unconfirmed"] = row[-1] or 0
    result["carried"] = _carried_configuration(bench, source, layout, stats, list(result["columns"]))
    return result


def _carried_configuration(bench: Benchmark, source: str, layout: Layout, stats: PassStats, lost: list[str]) -> list[str]:
    """The configuration columns set on every replayed row, when on the computed rows they tell configurations
    apart as well as the lost columns do (each lost column has one value per combination of them): then the
    replayed rows lost nothing that matters, e.g. track(f, args=[cfg], params={...}). [] otherwise."""
    L = layout
    if not lost:
        return []
    carried = [p for p in dict.fromkeys(L.config + L.parameters)
               if p not in lost and stats.column(p).null_replayed == 0]
    if not carried:
        return []
    group = ", ".join(q(c) for c in ([L.function] if L.function else []) + carried)
    split = " OR ".join(f"MIN({q(c)}) <> MAX({q(c)})" for c in lost)
    present = " AND ".join(f"{q(c)} IS NOT NULL" for c in lost)
    ambiguous = bench.query(f"SELECT COUNT(*) FROM (SELECT 1 AS x FROM {source} WHERE ({L.computed}) AND {present} "
                            f"GROUP BY {group} HAVING {split}) g")[0][0]
    return [] if ambiguous else carried


def replay_loss_predicate(layout: Layout, loss: dict) -> str | None:
    cols = list(loss["columns"])
    if not cols:
        return None
    return f"({layout.replayed}) AND (" + " OR ".join(f"{q(c)} IS NULL" for c in cols) + ")"


def check_replay_loss(ctx: Context, loss: dict) -> list[Finding]:
    s = ctx.stats
    lost_cols = loss["columns"]
    inferred = s.no_config_replayed if not lost_cols else 0
    if not lost_cols and not inferred:
        return []
    rows = max(lost_cols.values(), default=0) or inferred
    cols = ", ".join(lost_cols) if lost_cols else "every configuration column"
    carried = loss.get("carried") or []
    if lost_cols and carried:
        return [Finding(
            "missing-parameters.replayed-rows", "info",
            f"{rows} replayed (cache-hit) rows lack {cols} (xetrack 0.7.0 unpacks dataclass arguments into "
            f"columns only when it computes), but replayed rows carry the configuration in: {', '.join(carried)}, "
            "which tell the configurations apart as the missing columns do. Nothing is lost; the per-configuration "
            "checks count these calls through their computed rows.",
            f"Nothing to fix. Group and compare by {', '.join(carried)} (set on every row), not by {cols}, which are "
            "NULL on cache hits.",
            [{"column": c, "rows": n} for c, n in lost_cols.items()], len(lost_cols))]
    how = ("the computed row of the same call (same function_name, args, kwargs) has them" if lost_cols else
           "their computed rows are not in these files, so this is inferred from the cache column")
    return [Finding(
        "missing-parameters.replayed-rows", "error",
        f"{rows} replayed (cache-hit) rows lost their configuration columns ({cols}); {how}. xetrack 0.7.0 "
        "unpacks dataclass arguments into columns only when it computes, not on a cache hit. These rows are left "
        "out of the duplicate and coverage checks.",
        "Pass the configuration as plain values that are logged on hits too: track(f, args=[...], "
        "params=dataclasses.asdict(cfg)) or a config_id column. To repair existing rows, fill them from the "
        "computed row of the same call (same function_name, args, kwargs).",
        [{"column": c, "rows": n} for c, n in lost_cols.items()], len(lost_cols))]


def check_missing_parameters(ctx: Context) -> list[Finding]:
    s, L = ctx.stats, ctx.layout
    out = []
    none = s.no_config_computed
    if none:
        examples = []
        if L.run:
            examples = [{"run": r, "rows": n} for r, n in ctx.bench.query(
                f"SELECT {q(L.run)}, COUNT(*) FROM {ctx.source} WHERE ({L.computed}) AND ({L.no_configuration()}) "
                f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {MAX_EXAMPLES}")]
        out.append(Finding(
            "missing-parameters", "error",
            f"{none} computed rows carry no configuration: every configuration column "
            f"({', '.join(dict.fromkeys(L.config + L.parameters))}) is NULL, so they cannot be attributed. "
            "They are left out of the duplicate and coverage checks.",
            "Log the configuration on every row: Tracker(params={...}) for a whole run, or "
            "track(..., params={...}) per call; a row logged by another tracker or script without them is "
            "indistinguishable from the others.",
            examples))
    out += _partially_missing(ctx)
    return out


def partially_missing(ctx: Context) -> list[dict]:
    """Configurations equal to another except that one of their columns is NULL: the value was probably not
    logged on those rows. A column NULL for a whole model family (max_depth for logreg) differs elsewhere too."""
    if ctx._partial is not None:
        return ctx._partial
    params = [p for p in ctx.layout.parameters if p in ctx.key]
    examples = []
    for p in params:
        others = [o for o in params if o != p]
        set_ = {tuple(c.key[ctx.key.index(o)] for o in others) for c in ctx.configs if c.key[ctx.key.index(p)] is not None}
        for c in ctx.configs:
            if c.key[ctx.key.index(p)] is None and tuple(c.key[ctx.key.index(o)] for o in others) in set_:
                examples.append({"column": p, "configuration": config_label(ctx.key, c.key), "rows": c.rows,
                                 "_key": c.key})
    ctx._partial = examples
    return examples


def _partially_missing(ctx: Context) -> list[Finding]:
    examples = [{k: v for k, v in e.items() if k != "_key"} for e in partially_missing(ctx)]
    if not examples:
        return []
    cols = sorted({e["column"] for e in examples})
    return [Finding(
        "missing-parameters", "warning",
        f"{len(examples)} configurations equal another except that {', '.join(map(repr, cols))} is NULL: the value "
        "was probably not logged on those rows, which now form a configuration of their own.",
        "Log every configuration field on every row; if NULL is meant (a parameter set to None), pass "
        "--config-cols without that column to confirm.",
        examples, len(examples))]


def check_missing_input(ctx: Context) -> list[Finding]:
    n = ctx.stats.no_input_ok
    if not n:
        return []
    return [Finding(
        "missing-input-id", "warning",
        f"{n} rows that did not fail have no {ctx.layout.input_id!r}: they cannot be paired across configurations "
        "and are not counted by the coverage and duplicate checks.",
        "Log the input id on every row (return it from the tracked function, or pass it in track(params=...)); "
        "name another column with --input-col if this is not the input id.")]


# --- schema drift ------------------------------------------------------------------------------------

def _param_values(ctx: Context, c: ConfigStats) -> dict:
    values = dict(zip(ctx.key, c.key, strict=True))
    values.update(c.parameters)
    return {p: values.get(p) for p in ctx.layout.parameters}


def _kind(value) -> str:
    if isinstance(value, (bool, int)):
        return "integer"
    if isinstance(value, float):
        return "real"
    return type(value).__name__


def _compatible(a: set, b: set) -> bool:
    """Values a renamed parameter could have kept: one storage type, and a shared value or (numbers)
    overlapping ranges. C=1.0 for one model family and n_estimators=100 for another are not."""
    kinds = {_kind(v) for v in a}
    if not a or not b or kinds != {_kind(v) for v in b} or len(kinds) != 1:
        return False
    if a & b:
        return True
    return kinds <= {"integer", "real"} and min(a) <= max(b) and min(b) <= max(a)


def _rename_candidates(ctx: Context) -> list[tuple[str, str, bool]]:
    """(a, b, other parameters equal somewhere) for parameter pairs never set together in any configuration,
    each set without the other somewhere, with compatible values. Read off the per-configuration pass."""
    params = ctx.layout.parameters
    configs = [_param_values(ctx, c) for c in ctx.configs]
    out = []
    for i, a in enumerate(params):
        for b in params[i + 1:]:
            if any(v[a] is not None and v[b] is not None for v in configs):
                continue
            only_a = [v for v in configs if v[a] is not None and v[b] is None]
            only_b = [v for v in configs if v[b] is not None and v[a] is None]
            if not only_a or not only_b or not _compatible({v[a] for v in only_a}, {v[b] for v in only_b}):
                continue
            others = [p for p in params if p not in (a, b)]
            # Everything else kept: the strongest sign. Two model families (C for one, max_depth for the
            # other) differ in the model too; a rename made together with another change needs _separated.
            same = bool(others) and any(all(x[p] == y[p] for p in others) for x in only_a for y in only_b)
            out.append((a, b, same))
    return out


def _spans(ctx: Context, pairs: list[tuple[str, str, bool]]) -> tuple[dict, dict]:
    """One aggregate query: per candidate column, when it was first and last set and in how many runs; per
    pair, in how many runs either was set (equal to the sum when no run sets both)."""
    L, names = ctx.layout, ctx.bench.column_names
    ts = "timestamp" if "timestamp" in names else None
    cols = list(dict.fromkeys(c for a, b, _ in pairs for c in (a, b)))
    e = []
    for c in cols:
        set_ = f"{q(c)} IS NOT NULL"
        e += [f"MIN(CASE WHEN {set_} THEN {q(ts)} END)" if ts else "NULL",
              f"MAX(CASE WHEN {set_} THEN {q(ts)} END)" if ts else "NULL",
              f"COUNT(DISTINCT CASE WHEN {set_} THEN {q(L.run)} END)" if L.run else "NULL"]
    for a, b, _ in pairs:
        e.append(f"COUNT(DISTINCT CASE WHEN {q(a)} IS NOT NULL OR {q(b)} IS NOT NULL THEN {q(L.run)} END)"
                 if L.run else "NULL")
    row = ctx.bench.query(f"SELECT {', '.join(e)} FROM {ctx.source}")[0]
    per_col = {c: {"first": row[3 * i], "last": row[3 * i + 1], "runs": row[3 * i + 2]} for i, c in enumerate(cols)}
    per_pair = {(a, b): row[3 * len(cols) + j] for j, (a, b, _) in enumerate(pairs)}
    return per_col, per_pair


def _separated(first: dict, second: dict, runs_either) -> bool:
    """One column stops being set when the other starts: no run sets both, and (with timestamps) every row
    setting one precedes every row setting the other. Model families interleaved in the same runs, or run
    side by side by parallel workers, overlap in one or the other."""
    if runs_either is None and first["first"] is None:
        return False  # neither runs nor timestamps: nothing tells the two apart in time
    if runs_either is not None and runs_either != (first["runs"] or 0) + (second["runs"] or 0):
        return False
    if first["first"] is None or second["first"] is None:
        return True
    return str(first["last"]) < str(second["first"]) or str(second["last"]) < str(first["first"])


def check_renamed(ctx: Context) -> list[Finding]:
    pairs = _rename_candidates(ctx)
    if not pairs:
        return []
    L = ctx.layout
    per_col, per_pair = _spans(ctx, pairs)
    out = []
    for a, b, same in pairs:
        separated = _separated(per_col[a], per_col[b], per_pair[(a, b)])
        if not (same or separated):
            continue
        if per_col[a]["first"] is not None and per_col[b]["first"] is not None \
                and str(per_col[b]["last"]) < str(per_col[a]["first"]):
            a, b = b, a  # old name first
        examples = []
        for col in (a, b):
            runs = []
            if L.run:
                order = f"MIN({q('timestamp')})" if per_col[col]["first"] is not None else "1"
                runs = [r[0] for r in ctx.bench.query(
                    f"SELECT {q(L.run)} FROM {ctx.source} WHERE {q(col)} IS NOT NULL GROUP BY 1 "
                    f"ORDER BY {order}, 1 LIMIT {MAX_EXAMPLES}")]
            examples.append({"column": col, "runs": per_col[col]["runs"], "run_examples": runs,
                             "first": per_col[col]["first"], "last": per_col[col]["last"]})
        where = "; ".join(f"{e['column']!r} in {_runs_text(e)}" for e in examples)
        evidence = []
        if separated:
            evidence.append("no run sets both, and one stops being set when the other starts")
        if same:
            evidence.append("the other parameters are the same")
        out.append(Finding(
            "schema-drift.renamed-parameter", "warning",
            f"Parameter {a!r} looks renamed {b!r}: {where}. They are never set together and hold compatible "
            f"values; {', and '.join(evidence)}. xetrack adds a new column on a rename and leaves the old one "
            "NULL, so one configuration looks like two.",
            f"Analyse COALESCE({q(b)}, {q(a)}) as one parameter (or pass --config-cols), and keep parameter "
            "names stable across runs.",
            examples))
    return out


def _runs_text(example: dict) -> str:
    n, shown = example["runs"], example["run_examples"]
    if not shown:
        return "some rows" if n is None else f"{n} runs"
    more = f" and {n - len(shown)} more" if n and n > len(shown) else ""
    return f"run{'s' if len(shown) > 1 or more else ''} {', '.join(map(str, shown))}{more}"


def asset_hash_columns(ctx: Context) -> dict[str, int]:
    """Columns holding xetrack asset hashes, confirmed against the files' `assets` tables.

    Candidates: a column whose MIN or MAX is a 16-hex string, or that mixes numbers and text (a float column
    where later numpy scalars became hashes). Asset columns by design (`*_asset`: a fitted model) are not."""
    profile = ctx.stats
    candidates = [c.name for c in ctx.layout.profiled if c.name not in ctx.layout.roles.assets
                  and (any(map(looks_like_asset_hash, profile.column(c.name).seen))
                  or profile.column(c.name).storage_classes() >= {"number", "text"})]
    found: dict[str, int] = {}
    assets = ctx.bench.assets_relation() if candidates else None
    if assets is None:
        return found
    for col in candidates:
        t = as_text(q(col))
        hashlike = f"length({t}) = 16 AND {t} GLOB {literal(ASSET_HASH_GLOB)}"
        n = ctx.bench.query(f"SELECT COUNT(*) FROM {ctx.source} WHERE {hashlike}")[0][0]
        sample = [r[0] for r in ctx.bench.query(f"SELECT DISTINCT {t} FROM {ctx.source} WHERE {hashlike} ORDER BY 1 LIMIT 20")]
        keys = [k for h in sample for k in sqlitedict_keys(h)]
        if keys and ctx.bench.query(f"SELECT COUNT(*) FROM {assets} a WHERE a.key IN "
                                    f"({', '.join('?' * len(keys))})", keys)[0][0]:
            found[col] = n
    return found


def sqlitedict_keys(value: str) -> list[str]:
    """How xetrack's assets table (a sqlitedict) spells the key `value`: base64 of its pickle. Two pickle
    protocols, for files written by another Python."""
    return [base64.b64encode(pickle.dumps(value, protocol=p)).decode("ascii") for p in (4, 5)]


def check_asset_hashes(ctx: Context, found: dict[str, int]) -> list[Finding]:
    if not found:
        return []
    return [Finding(
        "schema-drift.asset-hashes", "error",
        f"{len(found)} columns hold xetrack asset hashes instead of values: "
        f"{', '.join(f'{c} ({n} rows)' for c, n in found.items())}. log() stores numpy scalars (np.float64, "
        "np.int64, np.bool_) and other objects as pickled assets and writes their 16-hex hash in the column, so "
        "averages and comparisons on it are meaningless.",
        "Convert before logging: float(x), int(x) or x.item(). Existing values can be read back read-only "
        "from the file's assets table (references/duckdb-analysis.md, 'Values logged as asset hashes'; they are "
        "pickles: only from a file you trust) and written into a copy for analysis.",
        [{"column": c, "rows": n} for c, n in found.items()])]


def _type_counts(ctx: Context, col: str) -> tuple[dict, list]:
    """Exact storage classes of one column, overall and per run (SQLite's typeof), for a column that drifted."""
    c = q(col)
    run = q(ctx.layout.run) if ctx.layout.run else "NULL"
    rows = ctx.bench.query(f"SELECT {run}, typeof({c}), COUNT(*) FROM {ctx.source} WHERE {c} IS NOT NULL "
                           "GROUP BY 1, 2 ORDER BY 1, 2")
    totals: dict[str, int] = {}
    for _, kind, n in rows:
        totals[kind] = totals.get(kind, 0) + n
    per_run = [{"run": r, "stored_as": kind, "rows": n} for r, kind, n in rows]
    return totals, per_run


def _numeric_text(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def check_numbers_as_text(ctx: Context) -> list[Finding]:
    """A measurement column stored entirely as text that reads as numbers, with NULLs: xetrack typed it TEXT from
    a first value of None, so every later number was stored as text, in either engine. Without a NULL the first
    value was a string (answers or labels kept as text on purpose), and a prediction or ground-truth column holds
    labels, compared for equality, which text does as well as numbers: neither is reported."""
    out = []
    profile = ctx.stats
    labels = {ctx.layout.ground_truth, *(c for c in ctx.layout.columns if c.lower() in PREDICTION_NAMES)}
    for col in ctx.layout.profiled:
        if col.name not in ctx.layout.roles.outcomes or col.name in labels \
                or profile.column(col.name).storage_classes() != {"text"}:
            continue
        if not (all(map(_numeric_text, profile.column(col.name).seen))):
            continue
        c = q(col.name)
        read = numeric(c, ctx.bench.engine)  # what the scripts read as a number: the warning says they do
        total, numbers, nulls = ctx.bench.query(
            f"SELECT COUNT({c}), COUNT({read}), COUNT(*) - COUNT({c}) FROM {ctx.source}")[0]
        if total and numbers == total and nulls:
            out.append(Finding(
                "schema-drift.mixed-types", "warning",
                f"Column {col.name!r} holds numbers stored as text ({total} rows, declared "
                f"{col.declared_type or 'untyped'}): its first logged value was None, so xetrack typed it TEXT and "
                "every later number is text. The scripts read them as numbers; your own SQL sorts them as text "
                "('10' before '9') and averages nothing.",
                f"CAST({c} AS REAL) in your own SQL; log a number first next time (float('nan') is stored as NULL "
                "in a REAL column)."))
    return out


def check_mixed_types(ctx: Context, hashed: dict[str, int]) -> list[Finding]:
    out = check_numbers_as_text(ctx)
    for col in ctx.layout.profiled:
        if col.name in hashed or len(ctx.stats.column(col.name).storage_classes()) < 2:
            continue  # one storage class at both ends of the sort order, or asset hashes (reported apart)
        totals, per_run = _type_counts(ctx, col.name)
        detail = ", ".join(f"{n} {k}" for k, n in sorted(totals.items()))
        runs = sorted({r["run"] for r in per_run if r["stored_as"] == "text"} - {None})
        out.append(Finding(
            "schema-drift.mixed-types", "error",
            f"Column {col.name!r} changes stored type ({detail}; text in {len(runs)} runs): a column's type is fixed by "
            "the first value xetrack sees, and later values of another type are kept as they come, so numbers "
            "stored as text sort and compare as text, averages skip or misread them, and DuckDB refuses the file.",
            "Log one Python type per key in every run (float()/int()/str() before logging); CAST the column when "
            "analysing existing rows.",
            per_run[:MAX_EXAMPLES], len(per_run)))
    return out


# --- versions, splits, ground truth ------------------------------------------------------------------

def check_versions(ctx: Context) -> list[Finding]:
    out = []
    for v in versions_mixed(ctx.layout, ctx.stats):
        rows = ctx.bench.query(f"SELECT {as_text(q(v))}, COUNT(*) FROM {ctx.source} GROUP BY 1 ORDER BY 2 DESC, 1")
        shown = ", ".join(f"{val!r} ({n} rows)" for val, n in rows[:MAX_EXAMPLES])
        pick = rows[0][0]
        out.append(Finding(
            "mixed-versions", "error",
            f"{len(rows)} values of {v!r} in what will be compared: {shown}. Rows produced by different code or "
            "data are not comparable, and a configuration measured partly under each is a blend of both.",
            f"Validate and compare one version at a time, e.g. --filter {v}={pick} (or one file or table per "
            "version); re-run what the others lack under that version.",
            [{"value": val, "rows": n} for val, n in rows], len(rows)))
    return out


def _split_predicate(layout: Layout, values: tuple[str, ...]) -> str:
    return f"LOWER({as_text(q(layout.split))}) IN ({', '.join(map(literal, values))})"


def check_overlap(ctx: Context) -> list[Finding]:
    s, L = ctx.stats, ctx.layout
    overlap = s.overlap_items
    if overlap <= 0:
        return []
    item = L.item_key(with_split=False)
    examples = [r[0] for r in ctx.bench.query(
        f"SELECT {item} FROM {ctx.source} WHERE {_split_predicate(L, TRAIN_VALUES)} INTERSECT "
        f"SELECT {item} FROM {ctx.source} WHERE {_split_predicate(L, EVAL_VALUES)} ORDER BY 1 LIMIT {MAX_EXAMPLES}")]
    per = f" (per {', '.join(L.replicate)})" if L.replicate else ""
    return [Finding(
        "train-test-overlap", "error",
        f"{overlap} inputs{per} are in both the training and the evaluation split of {L.split!r}: scores on them "
        "measure memory, not generalisation.",
        "Split by input before running (e.g. GroupKFold or a fixed list of test ids), never by row, and use the "
        "same split for every configuration.",
        examples, overlap)]


def check_ground_truth(ctx: Context) -> list[Finding]:
    s, L = ctx.stats, ctx.layout
    if not s.gt_conflicts:
        return []
    item, gt = L.item_key(with_versions=True), q(L.ground_truth)
    conflicts = f"SELECT {item} AS i, COUNT(DISTINCT {gt}) AS n, MIN({gt}) AS lo, MAX({gt}) AS hi FROM {ctx.source} " \
                f"WHERE {gt} IS NOT NULL GROUP BY 1 HAVING COUNT(DISTINCT {gt}) > 1"
    count = ctx.bench.query(f"SELECT COUNT(*) FROM ({conflicts}) c")[0][0]
    if not count:
        return []  # the ground truth changed only between versions: mixed-versions reports that
    examples = [{"input": i, "values": n, "min": lo, "max": hi}
                for i, n, lo, hi in ctx.bench.query(f"{conflicts} ORDER BY 1 LIMIT {MAX_EXAMPLES}")]
    return [Finding(
        "inconsistent-ground-truth", "error",
        f"{count} inputs have more than one {L.ground_truth!r} value: the input id does not name the same example "
        "everywhere (a row position after a per-run shuffle, or changed data), so rows paired by it compare "
        "different examples.",
        "Use an id that comes from the example itself (a dataset key or a content hash), not its position.",
        examples, count)]



SHARD_VALUE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")  # benchkit.placement writes "2/4"


def shard_column(layout: Layout) -> str | None:
    return next((c for c in layout.roles.provenance if c.lower() in ("shard", "shard_id")), None)


def check_missing_shards(ctx: Context, column: str) -> list[Finding]:
    """The rows say which of N shards computed them: every K of that N must be there. A forgotten shard file can
    leave coverage equal (when the split is by input, every configuration misses the same inputs), so no
    other check would notice; a union of two splits (N=2 and N=3 re-runs) puts units in twice or not at all."""
    values = [v for (v,) in ctx.bench.query(f"SELECT DISTINCT {as_text(q(column))} FROM {ctx.source} "
                                            f"WHERE {q(column)} IS NOT NULL")]
    parts: dict[int, set[int]] = {}
    for value in values:
        m = SHARD_VALUE.match(str(value))
        if m and 1 <= int(m.group(1)) <= int(m.group(2)):
            parts.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    out = []
    if len(parts) > 1:
        splits = ", ".join(f"N={n} ({len(ks)} shards)" for n, ks in sorted(parts.items()))
        out.append(Finding("missing-shards", "error", f"Rows of {len(parts)} different splits are read together "
                           f"({splits}): a unit belongs to one shard of each split, so the union holds some units "
                           "twice and others not at all.", "Validate the files of one split (one N) together; "
                           "re-run the others under that split.", [f"N={n}" for n in sorted(parts)], len(parts)))
    for n, present in sorted(parts.items()):
        missing = sorted(set(range(1, n + 1)) - present)
        if missing:
            shown = [f"{k}/{n}" for k in missing]
            out.append(Finding("missing-shards", "error", f"{len(missing)} of {n} shards are missing ("
                               f"{', '.join(shown[:MAX_EXAMPLES])}{', ...' if len(shown) > MAX_EXAMPLES else ''}): "
                               f"the rows come from {len(present)} of the {n} shards of this run, so the benchmark "
                               "is incomplete even where coverage looks equal.",
                               f"Add the missing shard files (...shard-K-of-{n}.db), or run those shards (--shard "
                               f"K/{n}) and gather them, then validate all {n} together.", shown, len(missing)))
    return out
