"""validate_benchmark.py --same-as REF: does this benchmark hold exactly what a reference run holds?

"Is the union of my shards the same as one unsharded run?", "did the refactor change any result?", "is a
re-run reproducible?": the same question, asked of two sets of files. A *key* is one execution as the
benchmark names it: the configuration key and the item (input, replicate, fold, split). Both sides are read
through one view (the reference's files after this benchmark's, `_shard` telling them apart) and grouped by
key and outcome values, so the answer is one pass and never a pair of Python sets:
- keys only here, keys only in the reference;
- keys on both sides whose outcome values differ (compared exactly: the same command on the same data and
  versions gives the same bits; a seed, a thread count or a data change is what this finds);
- keys on both sides that agree.
Columns that say how a call went rather than what it computed are left out: time (fit_seconds, latency_ms)
and the call's accounting (attempts, retries, n_requests, n_429): no two runs take the same time, and a
cache replay made no request. So are bookkeeping columns (track_id, timestamp, cache). Versions are not part
of the key: comparing two code versions is one use of this.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from _bench.cli import MAX_EXAMPLES, Finding
from _bench.layout import Layout
from _bench.reader import Benchmark
from _bench.sql import count_if, flag, numeric, parse_filters, q
from _bench.validate.passes import config_label, create_source
from _bench.validate.rules import Context
from _bench.validate.tuning import tune

# How a call went, not what it computed: never equal between a run and its replay or re-run. Time taken, and
# the call's accounting (attempts, retries, requests made, status codes, timeouts, cache hits), and an API's raw
# response body, which carries the server's own id and timestamp (`created`) per call: two runs that got the
# same answer differ there, and the parsed answer beside it is compared. `n_requests` (plural) is a count;
# `raw_request`, what was sent, is compared.
HOW_IT_WENT = re.compile(r"(^|_)(seconds?|secs?|ms|us|ns|s|time|times|timing|latency|duration|elapsed|wall|clock|"
                         r"ttft|tpot|attempts?|retr(y|ies)|requests|timeouts?|network|\d{3}|\dxx|status|"
                         r"cache|throttled|raw_response|response_json)(_|$)", re.IGNORECASE)


@dataclass
class Comparison:
    reference: list[str]
    key: list[str]
    compared: list[str]  # outcome columns whose values must match
    left_out: list[str]  # outcome columns saying how the call went (time, retries, requests made)
    agree: int = 0
    only_here: int = 0
    only_reference: int = 0
    differ: int = 0
    examples: list = field(default_factory=list)
    by_configuration: list = field(default_factory=list)  # configurations with any difference, and their counts
    columns: list = field(default_factory=list)  # per compared column: keys where it differs, largest difference

    def as_dict(self) -> dict:
        return {"reference": self.reference, "key": self.key, "compared": self.compared,
                "left_out": self.left_out, "agree": self.agree, "only_here": self.only_here,
                "only_reference": self.only_reference, "differ": self.differ,
                "by_configuration": self.by_configuration, "columns_differing": self.columns}


def compare(bench: Benchmark, layout: Layout, key: list[str], reference: list[str],
            filters: list[str] | None) -> Comparison:
    """Count the keys of `bench` and of the `reference` files (same table, same --filter) by agreement."""
    item = layout.item_columns + ([layout.split] if layout.split else [])
    names = list(dict.fromkeys(key + item))
    outcomes = [c for c in layout.roles.outcomes if c not in names and c not in layout.roles.assets]
    compared = [c for c in outcomes if not HOW_IT_WENT.search(c)]
    result = Comparison(reference, names, compared + ["failed"] * bool(layout.error),
                        [c for c in outcomes if HOW_IT_WENT.search(c)])
    # (name, SQL) of each value compared: the outcome columns, and whether the call failed (the error's text
    # may hold a time or a request id: two runs that failed alike need not say it alike)
    values = [(c, q(c)) for c in compared] + [("failed", flag(layout.failed))] * bool(layout.error)
    mine = len(bench.paths)
    with Benchmark([*bench.paths, *reference], table=bench.table, engine=bench.engine) as both:
        tune(both)  # bounded memory: both sides together are twice the rows validate just read
        _count(both, layout, result, key, values, mine, filters)
    return result


KINDS = (("only here", "there = 0"), ("only in the reference", "here = 0"),
         ("other outcomes", "here = 1 AND there = 1 AND same = 0"))


def _count(both: Benchmark, layout: Layout, result: Comparison, config: list[str], values: list[tuple[str, str]],
           mine: int, filters: list[str] | None) -> None:
    """Fill in `result`'s counts, per configuration and in all, and its examples, from the view of both sides,
    `mine` files first."""
    source = create_source(both, parse_filters(filters, both.column_names))
    keys = ", ".join(q(c) for c in result.key)
    aliased = "".join(f", {sql} AS v{i}" for i, (_, sql) in enumerate(values))
    grouped = keys + "".join(f", v{i}" for i in range(len(values)))
    # t: one row per (key, values) with here = 1 if a row of this benchmark has it, there = 1 if a reference row
    # has it; k: per key, whether each side has it and whether every tuple of values is on both sides.
    sql = (f"WITH t AS (SELECT {keys}{aliased}, MAX({flag(f'_shard < {mine}')}) AS here, "
           f"MAX({flag(f'_shard >= {mine}')}) AS there FROM {source} "
           f"WHERE {q(layout.input_id)} IS NOT NULL AND NOT ({layout.no_configuration()}) GROUP BY {grouped}), "
           f"k AS (SELECT {keys}, MAX(here) AS here, MAX(there) AS there, MIN(here * there) AS same "
           f"FROM t GROUP BY {keys}) ")
    by = ", ".join(q(c) for c in config) or "1"
    counts = [count_if("here = 1 AND there = 1 AND same = 1"), *(count_if(where) for _, where in KINDS)]
    rows = both.query(sql + f"SELECT {by}, {', '.join(counts)} FROM k GROUP BY {by} ORDER BY {by}")
    n = len(config) or 1
    for row in rows:
        agree, here, there, differ = (v or 0 for v in row[n:])
        result.agree, result.only_here = result.agree + agree, result.only_here + here
        result.only_reference, result.differ = result.only_reference + there, result.differ + differ
        if here or there or differ:
            result.by_configuration.append({"configuration": config_label(config, tuple(row[:len(config)])),
                                            "agree": agree, "only_here": here, "only_reference": there,
                                            "differ": differ})
    if result.only_here or result.only_reference or result.differ:
        result.examples = _examples(both, sql, result.key, [name for name, _ in values], keys)
    if result.differ:
        result.columns = _columns_differing(both, sql, result.key, [name for name, _ in values], keys)


def _columns_differing(both: Benchmark, sql: str, names: list[str], compared: list[str], keys: str) -> list[dict]:
    """For keys held by both sides with other values: which compared columns differ, on how many keys, and for
    numbers by how much at most, so that a float that moved in its 14th digit (a thread count) reads as such
    next to a prediction that changed. A NULL against a value differs (with no size)."""
    same = "IS" if both.engine == "sqlite" else "IS NOT DISTINCT FROM"
    on = " AND ".join(f"t.{q(c)} {same} d.{q(c)}" for c in names)
    per_key = ", ".join(f"COUNT(DISTINCT t.v{i}) + MAX({flag(f't.v{i} IS NULL')}) > 1 AS n{i}, "
                        f"MAX({numeric(f't.v{i}', both.engine)}) - MIN({numeric(f't.v{i}', both.engine)}) AS s{i}"
                        for i in range(len(compared)))
    totals = ", ".join(f"{count_if(f'n{i}')}, MAX(s{i})" for i in range(len(compared)))
    row = both.query(f"{sql}, d AS (SELECT {keys} FROM k WHERE here = 1 AND there = 1 AND same = 0), "
                     f"e AS (SELECT {per_key} FROM t JOIN d ON {on} GROUP BY {', '.join(f't.{q(c)}' for c in names)}) "
                     f"SELECT {totals} FROM e")[0]
    return [{"column": name, "keys": row[2 * i], "largest_difference": row[2 * i + 1]}
            for i, name in enumerate(compared) if row[2 * i]]


def _examples(both: Benchmark, sql: str, names: list[str], compared: list[str], keys: str) -> list[dict]:
    """A few keys of each kind of difference, taken in turn so that every kind shows among the first examples;
    for keys with other outcomes, the differing values on each side."""
    same = "IS" if both.engine == "sqlite" else "IS NOT DISTINCT FROM"
    found = []
    for kind, where in KINDS:
        picked = f"p AS (SELECT {keys} FROM k WHERE {where} ORDER BY {keys} LIMIT {MAX_EXAMPLES})"
        if kind != "other outcomes":
            found.append([{"difference": kind, **dict(zip(names, row, strict=True))}
                          for row in both.query(f"{sql}, {picked} SELECT * FROM p")])
            continue
        on = " AND ".join(f"t.{q(c)} {same} p.{q(c)}" for c in names)
        rows = both.query(f"{sql}, {picked} SELECT {', '.join(f't.{q(c)}' for c in names)}, t.here, t.there"
                          + "".join(f", t.v{i}" for i in range(len(compared))) + f" FROM t JOIN p ON {on}")
        by_key: dict[tuple, list] = {}
        for row in rows:
            by_key.setdefault(tuple(row[:len(names)]), []).append(row[len(names):])
        examples = []
        for k in sorted(by_key, key=repr):
            sides = by_key[k]
            differing = [i for i in range(len(compared)) if len({s[2 + i] for s in sides}) > 1]
            example = {"difference": kind, **dict(zip(names, k, strict=True))}
            for here, there, *vals in sides:  # a tuple both sides hold is what they agree on, besides
                side = "both" if here and there else "here" if here else "reference"
                example[side] = {compared[i]: vals[i] for i in differing}
            examples.append(example)
        found.append(examples)
    return [e for group in itertools.zip_longest(*found) for e in group if e is not None]


def check_same_as(ctx: Context) -> list[Finding]:
    result = compare(ctx.bench, ctx.layout, ctx.key, ctx.options.same_as or [], ctx.options.filters)
    ctx.compared = result.as_dict()
    found = finding(result)
    return [found] if found else []


def _column_text(c: dict) -> str:
    size = c["largest_difference"]
    keys = f"{c['keys']:,} key" + ("s" if c["keys"] != 1 else "")
    return f"{c['column']} on {keys}" + (f" (largest difference {size:.3g})" if size else "")


def finding(result: Comparison) -> Finding | None:
    where = ", ".join(result.reference)
    if not (result.only_here or result.only_reference or result.differ):
        if result.agree:
            return None
        return Finding("same-as-reference", "error", f"Nothing to compare with {where}: no key (configuration and "
                       "item) on either side.", "Check the table name and --filter; both sides are read alike.")
    parts = [f"{n:,} {what}" for n, what in ((result.only_here, "only here"),
                                             (result.only_reference, "only in the reference"),
                                             (result.differ, "with other outcome values")) if n]
    return Finding(
        "same-as-reference", "error",
        f"This benchmark is not the same as {where}: of its keys ({', '.join(result.key)}), "
        f"{'; '.join(parts)}; {result.agree:,} agree. Compared exactly: {', '.join(result.compared) or 'keys only'}"
        + (f" (left out, as they say how a call went: {', '.join(result.left_out)})." if result.left_out else ".")
        + (" Where values differ: " + "; ".join(_column_text(c) for c in result.columns) + "." if result.columns
           else ""),
        "Keys on one side only: a shard or a run missing, a different split or --limit, or a changed "
        "configuration (its parameters are the key: an edited prompt's text, a new hyperparameter value). Other "
        "outcome values for the same key: the two runs did not compute the same thing (a seed, a thread count, "
        "changed data or code: compare their version columns). Shards of one command, gathered, add up to one "
        "unsharded run exactly.",
        result.examples, result.only_here + result.only_reference + result.differ)
