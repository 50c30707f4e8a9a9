"""export_summary's design options: which pairs stay together (--within), what a configuration is pooled over
(--pool), which slices of the inputs are reported apart (--by) and what the unit of the tests is (--unit). Each
checks its option against the inferred layout and refuses, with one line, what cannot apply."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from _bench.layout import Layout, require_column
from _bench.reader import InputError
from _bench.summary.scan import FAILED, NO_ITEM, Group, Partitions


def within_key(layout: Layout, columns: tuple) -> Callable | None:
    """--within: a configuration's values of those columns, the group its pairs stay in."""
    if not columns:
        return None
    unknown = [c for c in columns if c not in layout.config]
    if unknown:
        raise InputError(f"--within {','.join(unknown)}: not a configuration column; the configuration is "
                         f"{', '.join(layout.config) or 'none'} (--config-cols sets it)")
    if set(columns) >= set(layout.config):
        raise InputError(f"--within {','.join(columns)}: every configuration column, so each group holds one "
                         "configuration and nothing is compared; leave one out")
    at = [layout.config.index(c) for c in columns]
    return lambda summary: tuple(summary.group.config[i] for i in at)


def reference_in_each_group(configs: list, layout: Layout, within: Callable, columns: tuple,
                            value: str) -> list[tuple[int, int]]:
    """--pairs COL=VALUE --within GROUP: in each group, every configuration against the one whose COL is VALUE
    (retriever=bm25 in each dataset). (other, reference) index pairs; none for a group without such a one."""
    wanted = dict(part.strip().partition("=")[::2] for part in value.split(","))
    unknown = [col for col in wanted if col not in layout.config or col in columns]
    if unknown or not all(wanted.values()):
        raise InputError(f"--pairs {value!r} with --within {','.join(columns)}: name the reference by the other "
                         f"configuration columns ({', '.join(c for c in layout.config if c not in columns)}), "
                         "e.g. retriever=bm25")
    at = {col: layout.config.index(col) for col in wanted}
    groups: dict = {}
    for c in configs:
        groups.setdefault(within(c), []).append(c)
    pairs = []
    for members in groups.values():
        refs = [c for c in members if all(str(c.group.config[at[col]]) == v for col, v in wanted.items())]
        if len(refs) > 1:
            raise InputError(f"--pairs {value!r} names {len(refs)} configurations of one group; name more columns")
        pairs += [(c.index, refs[0].index) for c in members if refs and c is not refs[0]]
    return pairs


def apply_pool(layout: Layout, pool: list[str] | None) -> None:
    """--pool COLS: each configuration's numbers cover every value of COLS (a model over both prompts), so COLS
    join the item: pairs match on the same input and COLS values."""
    if not pool:
        return
    for col in pool:
        require_column(layout, col, "--pool")
        if col in layout.config or col in (layout.input_id, *layout.replicate, *layout.versions):
            raise InputError(f"--pool {col}: it is the configuration, input, replicate or version column; pool "
                             "over a parameter the configuration leaves out (--config-cols model --pool prompt)")
    layout.pooled = list(pool)
    layout.left_out = [c for c in layout.left_out if c not in pool]


def apply_slices(layout: Layout, by: list[str] | None) -> None:
    """--by COLS: each value of COLS is reported on its own (trial Z3 and A wrote per-category analyses). Checked
    here; the columns join the versions as strata once the rows are filtered (stratified_by_slices)."""
    if not by:
        return
    if layout.kind == "load":
        raise InputError("--by slices a benchmark's inputs; a load test's request table is reported per level "
                         "(use --filter COL=VALUE for one part of it)")
    for col in by:
        require_column(layout, col, "--by")
        if col in layout.config and layout.config_from == "parameters":  # named like a setting; --by says not
            layout.config = [c for c in layout.config if c != col]
            layout.parameters = [c for c in layout.parameters if c != col]
        if col in layout.config:
            raise InputError(f"--by {col}: a configuration column; to compare configurations within each {col}, "
                             f"use --within {col}")
        if col in (layout.input_id, *layout.replicate, *layout.versions, *layout.pooled):
            raise InputError(f"--by {col}: it is the input, replicate, version or pooled column; --by takes a "
                             "column that sorts the inputs into slices (a category, a language)")
    layout.slices = list(dict.fromkeys(by))


def stratified_by_slices(layout: Layout) -> Layout:
    """The layout whose strata are each (version, slice): --by's columns after the versions."""
    return replace(layout, versions=layout.versions + layout.slices) if layout.slices else layout


SAMPLE_NAMES = ("sample_idx", "sample_index", "sample")  # replicate columns that number samples of one question


def resolve_unit(layout: Layout, unit: str) -> str:
    """--unit auto: the input when every replicate column numbers samples of one question (sample 3 of one
    question has nothing in common with sample 3 of another, so a sample index is no cluster), else the
    replicate (a seed may train a model: what a new run re-draws). An explicit unit is checked: `input`
    averages each input's replicates, so it needs them, an input id, and no fold (repeated CV is tested per
    fold, whose items are not the same across seeds)."""
    if layout.pooled:  # an input's rows under two prompts are not independent items: the input is the unit
        if unit == "replicate":
            raise InputError("--pool makes each input's mean over the pooled values the unit; --unit replicate "
                             "cannot go with it")
        if not layout.input_id or layout.fold:
            raise InputError("--pool needs an input id column (--input-col) and no fold column: it pairs "
                             "configurations on the same input and pooled values")
        return "input"
    if unit == "auto":
        samples = layout.replicate and all(c.lower() in SAMPLE_NAMES for c in layout.replicate)
        return "input" if samples and layout.input_id else "replicate"
    if unit != "input":
        return unit
    if not layout.replicate:
        raise InputError("--unit input: no replicate column (seed, repeat, trial, sample_idx, ...) was found, so "
                         "each item is already an input")
    if layout.fold:
        raise InputError(f"--unit input: the fold column {layout.fold!r} makes this repeated cross-validation, "
                         "which is tested per fold (a seed's folds share training data); leave --unit out")
    if not layout.input_id:
        raise InputError("--unit input: no input id column to average the replicates of; name it with --input-col")
    return unit


# A metric that is a time (latency as --metric) differs between repeats by nature: not evidence of re-drawn results
TIMING = re.compile(r"latency|duration|elapsed|_time$|^time_|_ms$|_us$|_ns$|_s$|seconds", re.IGNORECASE)


def replicates_only_remeasure(parts: Partitions, groups: list[Group], metrics: list[int]) -> bool:
    """True when replicates repeat each input's score exactly, in every configuration and metric: repeats that
    re-time a deterministic call (latency), not seeds that re-draw the result. The replicate as the unit then
    has no spread (every replicate's mean is the same: a zero-width interval, p = 0), and the inputs are what
    varies. `metrics`: the positions of the metrics to look at (not times). False unless some input has two
    successful rows."""
    repeated = False
    for g in groups:
        rec = parts.load(g)
        rec = rec[((rec["flags"] & FAILED) == 0) & ((rec["flags"] & NO_ITEM) == 0)]
        if "input" not in rec.dtype.names or len(rec) < 2:
            continue
        for i in metrics:
            values = np.nan_to_num(rec[f"m{i}"], nan=-np.inf)  # NULL is a value like any other here
            order = np.lexsort((values, rec["input"]))
            inputs, values = rec["input"][order], values[order]
            new_input = inputs[1:] != inputs[:-1]
            if np.any(~new_input & (values[1:] != values[:-1])):
                return False
            repeated = repeated or not new_input.all()
    return repeated
