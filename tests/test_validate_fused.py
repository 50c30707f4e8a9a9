"""validate_benchmark's two-scan DuckDB passes (_bench/validate/fused.py) count exactly what the general passes
count: the same PassStats and the same per-configuration stats, on every planted and clean fixture, and on
layouts the fixtures lack (NULL keys, a config_id key, more configurations than bits, a filter, no rows).

The general passes are themselves checked against the planted defects on both engines
(test_validate_checks.py), so agreeing with them on every fixture is agreeing with what those tests pin down.
"""

from __future__ import annotations

import dataclasses

import pytest
import validate_fixtures as vf
from _bench.layout import infer_layout
from _bench.reader import Benchmark
from _bench.sql import parse_filters
from _bench.validate.fused import MAX_BITS, fusable, fused_passes
from _bench.validate.passes import config_key, config_pass, create_source, global_pass
from xetrack_fixtures import log_rows

FIXTURES = {**{f"clean:{k}": v for k, v in vf.CLEAN.items()}, **{f"planted:{b.__name__}": b for b in vf.DEFECTS}}


def both_ways(db, filters=None, config_cols=None) -> tuple:
    """(general stats, general configs), (fused stats, fused configs), read through DuckDB."""
    with Benchmark([db], table=vf.TABLE, engine="duckdb") as bench:
        layout = infer_layout(bench, None, config_cols)
        source = create_source(bench, parse_filters(filters, bench.column_names))
        key = config_key(layout)
        general = global_pass(bench, source, layout), config_pass(bench, source, layout, key)
        if not fusable(layout, key):
            return general, None
        return general, fused_passes(bench, source, layout, key)


def assert_same(general, fused) -> None:
    """Equal stats, equal configurations. The group of rows with no configuration at all (reported only to
    count its rows) has no item counts in the fused passes: no check reads them."""
    (gs, gc), (fs, fc) = general, fused
    assert dataclasses.asdict(fs) == dataclasses.asdict(gs)
    assert fc is not None
    unconfigured = {"items", "items_computed_ok", "items_succeeded"}
    assert [_comparable(c, unconfigured) for c in fc] == [_comparable(c, unconfigured) for c in gc]


def _comparable(config, unconfigured: set) -> dict:
    d = dataclasses.asdict(config)
    return d if config.configured else {k: v for k, v in d.items() if k not in unconfigured}


@pytest.mark.parametrize("build", list(FIXTURES.values()), ids=list(FIXTURES))
def test_fused_passes_count_what_the_general_passes_count_on_every_fixture(tmp_path, engine, build):
    general, fused = both_ways(build(tmp_path, engine))
    if fused is None:  # a split column: validate runs the general passes
        assert build is vf.clean_with_split or build is vf.train_test_overlap
        return
    assert_same(general, fused)
    assert general[0].rows > 0 and general[1], "nothing was counted: the comparison proves nothing"


def _grid_rows(n_models: int, items: int, extra: dict | None = None) -> list[dict]:
    return [{"model": f"m{m}", "input_id": i, "prediction": i % 2, "ground_truth": i % 2, "error": "",
             "cache": "", **(extra or {})} for m in range(n_models) for i in range(items)]


def test_null_key_values_failures_replays_and_a_filter_agree(tmp_path):
    db = tmp_path / "nulls.db"
    rows = _grid_rows(3, 6, {"temperature": 0.5})
    rows += [{**r, "temperature": None} for r in _grid_rows(2, 4)]  # a NULL in one key column
    rows += [{**r, "model": None, "temperature": None} for r in _grid_rows(1, 3)]  # no configuration at all
    rows += [{**r, "cache": "run-0"} for r in _grid_rows(2, 6, {"temperature": 0.5})[:8]]  # replays
    rows += [{**r, "error": "boom"} for r in _grid_rows(3, 2, {"temperature": 0.5})]  # failures on computed inputs
    rows += [{**r, "input_id": None} for r in _grid_rows(1, 2, {"temperature": 0.5})]  # no input id
    log_rows(db, rows, engine="sqlite", table=vf.TABLE)
    general, fused = both_ways(db)
    assert_same(general, fused)
    assert any(None in c.key for c in general[1]) and general[0].replayed and general[0].failed_computed
    assert_same(*both_ways(db, filters=["model=m1"]))


def test_a_config_id_key_with_parameters_outside_it_agrees(tmp_path):
    db = tmp_path / "config_id.db"
    rows = [{**r, "config_id": f"c{r['model'][1:]}", "lr": 0.1 * int(r["model"][1:])} for r in _grid_rows(3, 5)]
    rows += [{**r, "config_id": None, "lr": None, "model": None} for r in _grid_rows(1, 2)]
    rows[0]["lr"] = 0.05  # one configuration whose parameter is not constant: its least value is reported
    log_rows(db, rows, engine="sqlite", table=vf.TABLE)
    general, fused = both_ways(db)
    assert_same(general, fused)


def test_more_configurations_than_bits_fall_back_to_the_general_count(tmp_path):
    db = tmp_path / "many.db"
    log_rows(db, _grid_rows(MAX_BITS + 3, 2), engine="sqlite", table=vf.TABLE)
    (gs, gc), (fs, fc) = both_ways(db)
    assert fc is None and len(gc) == MAX_BITS + 3  # validate_benchmark then runs config_pass
    assert dataclasses.asdict(fs) == dataclasses.asdict(gs)


def test_exactly_as_many_configurations_as_bits_still_use_the_masks(tmp_path):
    db = tmp_path / "bits.db"
    rows = _grid_rows(MAX_BITS, 3)
    rows = [r for r in rows if not (r["model"] == f"m{MAX_BITS - 1}" and r["input_id"] == 2)]  # the top bit short
    log_rows(db, rows, engine="sqlite", table=vf.TABLE)
    general, fused = both_ways(db)
    assert_same(general, fused)
    assert sorted(c.items for c in fused[1])[0] == 2


def test_an_empty_table_counts_no_rows_either_way(tmp_path):
    db = tmp_path / "empty.db"
    log_rows(db, _grid_rows(2, 2), engine="sqlite", table=vf.TABLE)
    general, fused = both_ways(db, filters=["model=absent"])
    assert general[0].rows == fused[0].rows == 0
    assert fused[1] == [] and general[1] == []
