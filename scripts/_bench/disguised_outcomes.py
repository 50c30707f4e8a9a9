"""Columns named like parameters that the data shows are outcomes: a rank, a generated text, an input's own text.

Role inference goes by names (layout.py): an integer or text column that no outcome name matches is a
parameter, so a retrieval benchmark's `rank` of the relevant document split every configuration into one per
rank (104 "configurations", and an unequal-coverage error that was not there). Names cannot tell that `rank`
from a LoRA `rank`; the rows can. A configuration parameter is set before the inputs are seen: under the
other parameters, every item meets each of its values (a grid) or all items meet the same one. An outcome is
one value per item that varies from item to item. So a column is an outcome when, among the first rows, each
(other parameters, item) has exactly one value of it while within one group of the other parameters it takes
at least MIN_VALUES values (two for a 0/1 column: raised, timed_out). An input's own attributes (its text,
its position in the file) are found first: one value per item whatever the configuration. Columns named like
hyperparameters (top_k, max_tokens, temperature, ...) stay parameters whatever their values, and
`--config-cols` overrides all of this.
"""

from __future__ import annotations

from collections import defaultdict

from _bench.reader import Benchmark
from _bench.sql import q

SAMPLE_ROWS = 20_000  # the first rows: enough for a group of the other parameters to show many items
MIN_VALUES = 10  # values within one group: fewer is a small grid a benchmark may run on disjoint inputs


def disguised_outcomes(bench: Benchmark, candidates: list[str], fixed: list[str], item: list[str]) -> list[str]:
    """Which of `candidates` (parameters by name) are outcomes by their values, `fixed` being the parameters
    no data can move (named like hyperparameters) and `item` the item's columns (input id, replicates)."""
    if not candidates or not item:
        return []
    params = [*candidates, *fixed]
    rows = bench.query(f"SELECT {', '.join(q(c) for c in params + item)} FROM {bench.VIEW} LIMIT {SAMPLE_ROWS}")
    rows = [r for r in rows if None not in r[len(params):]]
    # Attributes of the input (its text, its position in the file): one value per item across every
    # configuration, many values. Found first, as two of them would hide each other: grouped by the other,
    # each takes one value per group.
    found = [p for j, p in enumerate(params) if p in candidates
             and (_values_per_group(rows, j, [], len(params)) or 0) >= MIN_VALUES]
    while True:  # one at a time: an outcome among the "other parameters" would split their groups
        kept = [i for i, p in enumerate(params) if p not in found]
        spread = {params[j]: _values_per_group(rows, j, [i for i in kept if i != j], len(params))
                  for j in kept if params[j] in candidates}
        outcomes = {p: n for p, n in spread.items() if n is not None and n >= _enough(rows, params.index(p))}
        if not outcomes:
            return found
        found.append(max(outcomes, key=outcomes.get))


def _enough(rows: list[tuple], j: int) -> int:
    """Values within one group that make column j an outcome: MIN_VALUES, or 2 for a 0/1 column (raised,
    timed_out): a 0/1 setting is swept over the same items (a grid, which _values_per_group never counts),
    while a 0/1 result differs from item to item."""
    return 2 if {row[j] for row in rows} <= {0, 1} else MIN_VALUES


def _values_per_group(rows: list[tuple], j: int, others: list[int], n_params: int) -> int | None:
    """The most values column j takes within one group of the other parameters, if every (group, item) sees
    exactly one; None if some item meets several (a parameter swept over the same items)."""
    per_item: dict[tuple, object] = {}
    per_group: dict[tuple, set] = defaultdict(set)
    for row in rows:
        group = tuple(row[i] for i in others)
        key = (group, row[n_params:])
        value = row[j]
        if per_item.setdefault(key, value) != value:
            return None
        per_group[group].add(value)
    return max((len(v) for v in per_group.values()), default=0)


def varying_within_config_id(bench: Benchmark, candidates: list[str]) -> list[str]:
    """Which of `candidates` take several values within one config_id among the first rows: not properties of
    the configuration (config_id is its content hash) but of the item, such as an input's category carried onto
    its rows (trial A: `channel` was listed as a parameter labelling every configuration, one arbitrary value)."""
    if not candidates:
        return []
    rows = bench.query(f"SELECT config_id, {', '.join(q(c) for c in candidates)} FROM {bench.VIEW} "
                       f"WHERE config_id IS NOT NULL LIMIT {SAMPLE_ROWS}")
    seen: dict[tuple, object] = {}
    varying: set[int] = set()
    for row in rows:
        for j, value in enumerate(row[1:]):
            if value is not None and seen.setdefault((row[0], j), value) != value:
                varying.add(j)
    return [c for j, c in enumerate(candidates) if j in varying]
