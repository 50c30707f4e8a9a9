"""What analyze_cache_hits reads: a few aggregate SQL passes over the benchmark's tracked calls.

xetrack 0.7.0 records caching in one column, `cache`, on rows written by `track()`:
- ''          the call was computed (a cache miss, or caching forced);
- a track_id  the call was replayed from the cache; the value is the run that computed it (lineage);
- NULL        the call had no cache key (an argument was unhashable), or the run had no cache at all;
and the column does not exist when no call was ever cacheable. A replayed row has function_time 0.0, so
the time it saved is the function_time of the row that computed it, found through the lineage.

Pass 1 groups every call by (run, configuration, lineage source): hit rates per run and configuration,
lineage integrity, cached failures and compute time all come from those cells. Further passes run only
when pass 1 says they can find something (time saved: there are replays; recomputation: a configuration
was computed in more than one run).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from _bench.cache_diagnosis import returned_failure
from _bench.layout import Layout
from _bench.reader import Benchmark
from _bench.slices import cut, greatest, least, run_sliced, sqlite_order, stripes, total
from _bench.sql import as_text, count_if, flag, q

CALL_IDENTITY = ("function_name", "args", "kwargs")  # what xetrack itself keys a call on (with its params)
# Where a call's compute time is (seconds per unit): xetrack's own function_time, else a template's latency.
TIME_COLUMNS = (("function_time", 1.0), ("latency_s", 1.0), ("latency_seconds", 1.0), ("latency_ms", 0.001))


@dataclass
class Cell:
    """Calls of one run, one configuration and one lineage source (None for computed/uncached rows)."""

    run: str | None
    config: tuple
    source: str | None
    rows: int
    computed: int
    replayed: int
    uncached: int
    replayed_failed: int
    computed_failed: int
    returned_failures: int  # computed failures that were *returned* (so cached), not raised
    compute_time: float | None
    first_seen: str | None
    lambda_replays: int
    parameters: dict = field(default_factory=dict)


@dataclass
class Sources:
    """Which columns the passes can use."""

    layout: Layout
    population: str  # SQL predicate: the rows that are tracked calls
    time: str | None  # SQL for a call's compute time in seconds
    identity: list[str]  # columns identifying one call for the lineage join
    identity_from: str  # 'call' (function_name, args, kwargs) | 'item' (configuration + item) | 'none'

    @property
    def uncached(self) -> str:
        return f"{q(self.layout.cache)} IS NULL" if self.layout.cache else "1 = 1"

    @property
    def computed(self) -> str:
        return f"{q(self.layout.cache)} = ''" if self.layout.cache else "1 = 0"

    @property
    def returned_failure(self) -> str:
        return returned_failure(self.layout)


def sources(layout: Layout) -> Sources:
    cols = layout.columns
    population = f"{q(layout.function)} IS NOT NULL" if layout.function else "1 = 1"
    found = next(((c, unit) for c, unit in TIME_COLUMNS if c in cols), None)
    time = None if found is None else q(found[0]) if found[1] == 1.0 else f"{q(found[0])} * {found[1]}"
    if all(c in cols for c in CALL_IDENTITY):
        identity, kind = list(CALL_IDENTITY), "call"
    elif layout.item_columns:
        identity, kind = layout.config + layout.item_columns, "item"
    else:
        identity, kind = [], "none"
    return Sources(layout, population, time, identity, kind)


def call_cells(bench: Benchmark, src: Sources) -> list[Cell]:
    """The calls grouped by (run, configuration, lineage source). A large SQLite file is grouped in slices at
    the same time (slices.py) and the slices' cells are added up; the result is the same."""
    slices = cut(bench)
    if slices is None:
        return _call_cells(bench, src)
    merged: dict[tuple, Cell] = {}
    for cells in run_sliced(bench, slices, lambda part: _call_cells(part, src)):
        for c in cells:
            key = (c.run, c.config, c.source)
            merged[key] = c if key not in merged else _add(merged[key], c)
    return [merged[k] for k in sorted(merged, key=lambda k: [sqlite_order(v) for v in (k[0], *k[1], k[2])])]


def _add(a: Cell, b: Cell) -> Cell:
    """One cell from two slices' parts of it: as the aggregates of _call_cells combine."""
    counts = {name: getattr(a, name) + getattr(b, name) for name in (
        "rows", "computed", "replayed", "uncached", "replayed_failed", "computed_failed", "returned_failures",
        "lambda_replays")}
    return Cell(run=a.run, config=a.config, source=a.source, **counts,
                compute_time=total(a.compute_time, b.compute_time),
                first_seen=least(a.first_seen, b.first_seen),
                parameters={p: greatest(v, b.parameters[p]) for p, v in a.parameters.items()})


def _call_cells(bench: Benchmark, src: Sources) -> list[Cell]:
    """One GROUP BY (run, configuration, lineage source). As few aggregates as possible, since SQLite
    evaluates each one per row: a cell is either all replays (it has a source) or none, so most counts
    follow from the key."""
    L = src.layout
    run = q(L.run) if L.run else "NULL"
    source = f"CASE WHEN {L.replayed} THEN {q(L.cache)} END" if L.cache else "NULL"
    config = [q(c) for c in L.config]
    shown = [p for p in L.parameters if p not in L.config] if L.config_from == "config_id" else []
    lam = f"{q(L.function)} = '<lambda>'" if L.function else "1 = 0"
    first = f"MIN({q('timestamp')})" if "timestamp" in L.columns else "NULL"
    aggregates = ["COUNT(*)", count_if(src.uncached), count_if(L.failed),
                  count_if(src.returned_failure), f"SUM({src.time or 'NULL'})", first, count_if(lam),
                  *(f"MAX({q(p)})" for p in shown)]
    keys = [run, *config, source]
    sql = (f"SELECT {', '.join(keys + aggregates)} FROM {bench.VIEW} WHERE {src.population} "
           f"GROUP BY {', '.join(keys)}")
    cells = []
    n = len(config)
    for row in bench.query(sql):
        r, cfg, s, rest = row[0], tuple(row[1:1 + n]), row[1 + n], row[2 + n:]
        rows, uncached, failed, returned, time, first_seen, lambdas = (*(v or 0 for v in rest[:4]), *rest[4:7])
        replay = s is not None
        cells.append(Cell(
            run=r, config=cfg, source=s, rows=rows, computed=0 if replay else rows - uncached,
            replayed=rows if replay else 0, uncached=uncached, replayed_failed=failed if replay else 0,
            computed_failed=0 if replay else failed, returned_failures=returned,
            compute_time=None if replay or src.time is None else (time or 0.0), first_seen=first_seen,
            lambda_replays=(lambdas or 0) if replay else 0, parameters=dict(zip(shown, rest[7:], strict=True))))
    return cells


def time_saved(bench: Benchmark, src: Sources, source_runs: list[str], replaying_runs: list[str],
               replays: int, computing: int | None = None) -> list[tuple]:
    """Per configuration: (config..., replayed rows, rows whose computing row was found, seconds saved).

    Each replayed row is joined to the row that computed it: same run as its `cache` value and the same
    call (function, args, kwargs) or, in tables without them, the same configuration and item. Both sides
    are read by run (xetrack's primary key starts with track_id, so SQLite reads only those runs). The
    computing side is first taken as it is (fast); if some call was computed twice in one run the join
    multiplies rows, which the count reveals, and the join is redone with one row per call. `computing` (the
    computed rows of the source runs) lets SQLite copy only the computing rows a replay can match when replays
    are few."""
    L = src.layout
    if not (src.time and src.identity and L.run and source_runs):
        return []
    narrow = computing is not None and replays * NARROW_RATIO < computing
    cuts = stripes(bench)  # a run's replays are rows one after another: interleaved slices share them out

    def join(dedupe: bool) -> list[tuple]:
        if cuts is None:
            return _lineage_join(bench, src, source_runs, replaying_runs, dedupe=dedupe, narrow=narrow)
        # Each stripe joins its own replayed rows to a lookup table of every computing row (slices.py)
        parts = run_sliced(bench, cuts, lambda part: _lineage_join(part, src, source_runs, replaying_runs,
                                                                    dedupe=dedupe, narrow=narrow))
        return _sum_by_configuration(parts, len(L.config))

    rows = join(dedupe=False)
    if sum(r[len(L.config)] for r in rows) > replays:
        rows = join(dedupe=True)
    return rows


def _sum_by_configuration(parts: list[list[tuple]], n: int) -> list[tuple]:
    """The slices' (configuration..., replays, found, seconds) rows added up per configuration."""
    merged: dict[tuple, tuple] = {}
    for row in (r for rows in parts for r in rows):
        key, (replayed, found, seconds) = tuple(row[:n]), row[n:]
        if key in merged:
            before = merged[key]
            replayed, found, seconds = before[0] + replayed, before[1] + found, total(before[2], seconds)
        merged[key] = (replayed, found, seconds)
    return [(*key, *values) for key, values in merged.items()]


NARROW_RATIO = 4  # fewer replays than 1/4 of the computing rows: copy only the computing rows they can match
_tables = itertools.count()


def _lineage_join(bench: Benchmark, src: Sources, source_runs: list[str], replaying_runs: list[str],
                  dedupe: bool, narrow: bool = False) -> list[tuple]:
    """Replayed rows LEFT JOIN their computing rows on (run, call identity), summed per configuration.

    The join must be a lookup, not a scan per replayed row. DuckDB hash-joins on IS NOT DISTINCT FROM. SQLite
    has no hash join: it builds an automatic index only when its planner expects that to pay, and with no
    statistics it guessed that a few runs' rows were a few rows, then scanned every computing row of the
    source run once per replayed row (quadratic: 14 s at 200,000 rows, 5 % of them replays naming one run).
    So on SQLite the computing rows go into a temporary table with an explicit index on the join key: one
    sort, then one index lookup per replayed row, whatever the planner guesses. With `narrow` (few replays),
    only computing rows whose key some replay has (or with a NULL in it: IN compares with =) are copied:
    IN (subquery) is always one index of the subquery's rows, probed once per row. The table is not dropped
    (freeing its pages cost 1.8 s at 4 M rows): the temporary database goes when the connection closes."""
    L = src.layout
    ids = ", ".join(q(c) for c in src.identity)
    extra = [c for c in L.config if c not in src.identity]  # the computing row carries the configuration
    same = "IS" if bench.engine == "sqlite" else "IS NOT DISTINCT FROM"
    match = " AND ".join(f"c.{q(c)} {same} r.{q(c)}" for c in src.identity)
    # A replayed row can lack dataclass-unpacked parameters (xetrack 0.7.0): take them from its origin.
    config = ", ".join(f"COALESCE(r.{q(c)}, c.{q(c)})" for c in L.config)
    group = f" GROUP BY {config}" if L.config else ""
    runs = f"{q(L.run)} IN ({', '.join('?' for _ in source_runs)})"
    replaying = (f"{q(L.run)} IN ({', '.join('?' for _ in replaying_runs)}) AND "
                 f"{as_text(q(L.cache))} IN ({', '.join('?' for _ in source_runs)})")
    # Replayed rows come from the view (a slice's own rows, when sliced); computing rows from all rows.
    r = f"r AS (SELECT * FROM {bench.VIEW} WHERE {src.population} AND {L.replayed} AND {replaying})"
    where = f"WHERE {src.population} AND {src.computed} AND {runs}"
    params = list(source_runs)
    if narrow and bench.engine == "sqlite":
        keys = ", ".join([as_text(q(L.cache)), ids])
        nulls = "".join(f" OR {q(c)} IS NULL" for c in src.identity)
        where += (f" AND (({q(L.run)}, {ids}) IN (SELECT {keys} FROM {bench.WHOLE} "
                  f"WHERE {src.population} AND {L.replayed} AND {replaying}){nulls})")
        params += [*replaying_runs, *source_runs]
    if dedupe:
        carried = "".join(f", MAX({q(c)}) AS {q(c)}" for c in extra)
        computing = (f"SELECT {q(L.run)} AS run_, {ids}{carried}, MAX({src.time}) AS t_ FROM {bench.WHOLE} "
                     f"{where} GROUP BY {q(L.run)}, {ids}")
    else:
        carried = "".join(f", {q(c)}" for c in extra)
        computing = f"SELECT {q(L.run)} AS run_, {ids}{carried}, {src.time} AS t_ FROM {bench.WHOLE} {where}"

    def join(c: str) -> str:
        return (f"SELECT {config + ', ' if config else ''}COUNT(*), COUNT(c.t_), SUM(c.t_) "
                f"FROM r LEFT JOIN {c} AS c ON c.run_ = {as_text('r.' + q(L.cache))} AND {match}{group}")

    if bench.engine != "sqlite":
        return bench.query(_one_scan_lineage(bench, src, runs, replaying, dedupe, extra) + join("c"),
                           [*source_runs, *replaying_runs, *source_runs])  # c_'s runs, then r_'s
    # CREATE TABLE AS keeps each column's affinity, so `IS` compares exactly as it did against the view.
    name = f"_lineage_{next(_tables)}"
    bench.execute(f"CREATE TEMP TABLE {q(name)} AS {computing}", params)
    bench.execute(f"CREATE INDEX temp.{q(name + '_key')} ON {q(name)} (run_, {ids})")
    return bench.query(f"WITH {r} " + join(f"temp.{q(name)}"), [*replaying_runs, *source_runs])


def _one_scan_lineage(bench: Benchmark, src: Sources, runs: str, replaying: str, dedupe: bool,
                      extra: list[str]) -> str:
    """DuckDB: the CTEs `c` (computing rows of the source runs) and `r` (the replays naming them) from one scan
    of the rows, materialised once. As two CTEs over the view they were two full scans: at 10 M rows 3.3-3.5 s
    for the join, 2.1-2.5 s this way (benchmarks/README.md)."""
    L = src.layout
    ids = ", ".join(q(c) for c in src.identity)
    kept = ", ".join(q(c) for c in dict.fromkeys([L.run, L.cache, *src.identity, *L.config]))
    x = (f"x AS MATERIALIZED (SELECT * FROM (SELECT {kept}, {src.time} AS t_, "
         f"{flag(f'{src.computed} AND {runs}')} AS c_, {flag(f'{L.replayed} AND {replaying}')} AS r_ "
         f"FROM {bench.VIEW} WHERE {src.population}) AS rows_ WHERE c_ = 1 OR r_ = 1)")
    if dedupe:
        carried = "".join(f", MAX({q(c)}) AS {q(c)}" for c in extra)
        c = f"SELECT {q(L.run)} AS run_, {ids}{carried}, MAX(t_) AS t_ FROM x WHERE c_ = 1 GROUP BY {q(L.run)}, {ids}"
    else:
        carried = "".join(f", {q(c)}" for c in extra)
        c = f"SELECT {q(L.run)} AS run_, {ids}{carried}, t_ FROM x WHERE c_ = 1"
    return f"WITH {x}, c AS ({c}), r AS (SELECT * FROM x WHERE r_ = 1) "


def recomputed_calls(bench: Benchmark, src: Sources, limit: int = 5) -> tuple[int, int, list[tuple]]:
    """Calls computed successfully in more than one run: (distinct calls, extra computations, examples)."""
    if not (src.identity and src.layout.run and src.layout.cache):
        return 0, 0, []
    L = src.layout
    ids = ", ".join(q(c) for c in src.identity)
    inner = (f"SELECT {ids}, COUNT(DISTINCT {q(L.run)}) AS runs FROM {bench.VIEW} WHERE {src.population} AND "
             f"{src.computed} AND NOT ({L.failed}) GROUP BY {ids} HAVING COUNT(DISTINCT {q(L.run)}) > 1")
    calls, extra = bench.query(f"SELECT COUNT(*), SUM(runs - 1) FROM ({inner}) AS t")[0]
    examples = bench.query(f"{inner} ORDER BY runs DESC, {ids} LIMIT {int(limit)}") if calls else []
    return calls or 0, extra or 0, examples


def sample(bench: Benchmark, src: Sources, where: str, columns: list[str], limit: int = 5) -> list[tuple]:
    cols = ", ".join(as_text(q(c)) for c in columns)
    return bench.query(f"SELECT DISTINCT {cols} FROM {bench.VIEW} WHERE {src.population} AND ({where}) "
                       f"LIMIT {int(limit)}")
