"""What export_summary measures: the metrics (with their direction), latency, tokens and cost columns.

Each choice is inferred from column names, reported back, and overridable on the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from _bench.layout import Layout, require_column
from _bench.reader import InputError
from _bench.sql import as_text, numeric, q

PREDICTION_NAMES = ("prediction", "predicted", "y_pred", "pred", "predicted_label", "parsed_answer", "answer")
TRUTH_NAMES = ("ground_truth", "y_true", "true_label", "gold", "gold_label", "label", "target", "expected",
               "reference", "answer_key")
CORRECT_NAMES = ("correct", "is_correct")
LATENCY_NAMES = ("latency_ms", "latency", "latency_s", "latency_seconds", "latency_us", "latency_ns", "duration_ms",
                 "duration", "duration_us", "elapsed_ms", "elapsed", "elapsed_us", "response_time_ms", "response_time")
TOKEN_NAMES = ("total_tokens", "tokens", "n_tokens", "completion_tokens", "output_tokens", "generated_tokens")
COST_NAMES = ("cost", "total_cost", "cost_usd", "cost_total")
LOWER_IS_BETTER = re.compile(r"(loss|error|err|latency|time|duration|cost|_ms$|_us$|_ns$|_s$|seconds|mae|mse|rmse|"
                             r"perplexity|ppl|wer|cer|regret|distance)", re.IGNORECASE)
# names whose direction is as plain (a metric named otherwise, like `steps`, could go either way)
HIGHER_IS_BETTER = re.compile(r"(acc|correct|pass|solved|success|hit|mrr|ndcg|map|recall|precision|f1|auc|score|"
                              r"bleu|rouge|reward|win|exact|match|throughput|qps)", re.IGNORECASE)


@dataclass(frozen=True)
class Metric:
    name: str
    sql: str  # a number (or NULL) per row
    higher_is_better: bool
    source: str  # what the metric is computed from, for the reader
    direction_from: str  # 'declared', 'name' (guessed from the name) or 'definition'
    zero_one: bool = False  # the SQL can only yield 0, 1 or NULL (lets the scan pack it into one integer)
    column: str | None = None  # the one stored column a derived metric is the mean of (accuracy from `correct`)
    values_zero_one: bool = False  # a named column whose every value read was 0 or 1 (hit_at_10, passed)

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"

    @property
    def right_or_wrong(self) -> bool:
        """Each value is an answer right (1) or wrong (0): accuracy from prediction vs truth or from a 0/1
        `correct` column, or a --metric column holding only 0 and 1 (seen in the scan). Only for these can a
        failed call be counted as a wrong answer (--failures wrong)."""
        return self.zero_one or self.column is not None or self.values_zero_one

    @property
    def wrong(self) -> float:
        return 0.0 if self.higher_is_better else 1.0


@dataclass(frozen=True)
class Plan:
    metrics: list[Metric]
    latency: str | None
    latency_unit: str
    tokens: str | None
    cost: str | None
    latency_named: bool = False  # --latency-col: the user asked for latency (with no metric: a latency summary)
    no_accuracy_from: str | None = None  # a prediction/truth column with fractions: no accuracy derived from it

    def describe(self) -> dict:
        return {"metrics": [{"name": m.name, "from": m.source, "better": m.direction,
                             "direction_from": m.direction_from} for m in self.metrics],
                "latency": self.latency, "latency_unit": self.latency_unit, "tokens": self.tokens,
                "cost": self.cost}


def first_named(names: tuple[str, ...], available: list[str]) -> str | None:
    lower = {n.lower(): n for n in available}
    return next((lower[n] for n in names if n in lower), None)


def prediction_and_truth(layout: Layout) -> tuple[str | None, str | None]:
    outputs = layout.roles.outcomes
    return first_named(PREDICTION_NAMES, outputs), first_named(TRUTH_NAMES, outputs)


def fractional_prediction(bench, layout: Layout) -> str | None:
    """The prediction or ground-truth column (stored as real numbers) holding a number with a fractional part:
    a regression's predicted value, which equals the target almost never, so an accuracy derived from
    prediction = ground_truth would read 0 everywhere (trial P: '0 [0, 0]' per model, 15 pairs of zeros and a
    warning). Integral reals (labels 0.0/1.0) are labels. One query per real column, stopping at the first."""
    pred, truth = prediction_and_truth(layout)
    if not (pred and truth):
        return None
    for col in (pred, truth):
        if layout.columns.get(col) == "real":
            value = numeric(q(col), bench.engine)
            if bench.query(f"SELECT 1 FROM {bench.VIEW} WHERE {value} <> ROUND({value}) LIMIT 1"):
                return col
    return None


def accuracy_metric(layout: Layout, engine: str, fractional: str | None = None) -> Metric | None:
    """Accuracy from prediction vs ground truth (not when `fractional` names one of them: fractional_prediction),
    or from a stored 0/1 `correct` column."""
    pred, truth = prediction_and_truth(layout)
    if pred and truth and not fractional:
        same_kind = layout.columns[pred] == layout.columns[truth]
        # Different storage kinds (text '1' vs integer 1) are compared as text, never cast to numbers.
        p, t = (q(pred), q(truth)) if same_kind else (as_text(q(pred)), as_text(q(truth)))
        # NULL when either side is NULL, in both engines (a comparison with NULL is NULL).
        return Metric("accuracy", f"CAST({p} = {t} AS INTEGER)", True, f"{pred} = {truth}", "definition",
                      zero_one=True)
    correct = first_named(CORRECT_NAMES, layout.roles.outcomes)
    if correct:
        return Metric("accuracy", numeric(q(correct), engine), True, f"mean of {correct}", "definition",
                      column=correct)
    return None


def parse_metric(spec: str, layout: Layout, engine: str) -> Metric:
    """`score`, `score:higher` or `loss:lower`."""
    name, _, direction = spec.partition(":")
    name = require_column(layout, name.strip(), "--metric")
    direction = direction.strip().lower()
    if direction not in ("", "higher", "lower"):
        raise InputError(f"--metric {spec!r}: direction must be 'higher' or 'lower'")
    if direction:
        higher, source = direction == "higher", "declared"
    else:
        higher, source = not LOWER_IS_BETTER.search(name), "name"
    return Metric(name, numeric(q(name), engine), higher, f"column {name}", source)


def latency_column(layout: Layout, given: str | None) -> tuple[str | None, str]:
    if given:
        col = require_column(layout, given, "--latency-col")
    else:
        col = first_named(LATENCY_NAMES, list(layout.columns)) or (
            "function_time" if "function_time" in layout.columns else None)
    if col is None:
        return None, ""
    low = col.lower()
    suffix = next((u for u in ("ms", "us", "ns") if low.endswith(f"_{u}")), None)
    unit = suffix or ("s" if (low.endswith(("_s", "_seconds")) or low == "function_time") else "")
    return col, unit


def build_plan(layout: Layout, engine: str, metric_specs: list[str] | None, latency: str | None,
               fractional: str | None = None) -> Plan:
    """Metrics named with --metric come first (the first one picks the best configuration); accuracy, when
    prediction and ground truth (or a 0/1 `correct` column) are recorded, is always added, unless `fractional`
    names a prediction or truth column of real numbers with fractions (fractional_prediction). `--metric
    accuracy` (or `--metric correct` when accuracy is the mean of that column) places it explicitly."""
    accuracy = accuracy_metric(layout, engine, fractional)
    metrics: list[Metric] = []
    for spec in metric_specs or []:
        name, _, direction = (part.strip() for part in spec.partition(":"))
        # `--metric correct` names the very column accuracy is the mean of: one metric, not two (two would be
        # the same test twice in one multiplicity family, and a doubled Holm penalty).
        if (name == "accuracy" and "accuracy" not in layout.columns) or (accuracy and name == accuracy.column):
            if accuracy is None and fractional:
                raise InputError(f"--metric accuracy: {fractional} holds numbers with fractions (a regression?), "
                                 "which almost never equal the truth; name an error column, e.g. --metric "
                                 "abs_error:lower")
            if accuracy is None:
                raise InputError("--metric accuracy: no prediction and ground-truth columns (or 'correct') found")
            if direction.lower() not in ("", "higher"):
                raise InputError(f"--metric {spec!r}: accuracy ({accuracy.source}) is higher-is-better")
            m = accuracy
        else:
            m = parse_metric(spec, layout, engine)
        if m.name in {x.name for x in metrics}:
            raise InputError(f"--metric {m.name!r} given twice")
        metrics.append(m)
    if accuracy is not None and "accuracy" not in {m.name for m in metrics}:
        metrics.append(accuracy)
    lat, unit = latency_column(layout, latency)
    return Plan(metrics=metrics, latency=lat, latency_unit=unit,
                tokens=first_named(TOKEN_NAMES, list(layout.columns)),
                cost=first_named(COST_NAMES, list(layout.columns)), latency_named=latency is not None,
                no_accuracy_from=fractional if accuracy is None else None)


def with_values_seen(plan: Plan, not_zero_one: set[str]) -> Plan:
    """The plan once the rows are read: a --metric column whose every value was 0 or 1 (hit_at_10, passed) is
    a right/wrong metric, so --failures wrong can count a failed call as a miss in it. `not_zero_one` holds
    the record fields (m0, m1, ...) that had another value."""
    metrics = [replace(m, values_zero_one=True)
               if m.direction_from != "definition" and f"m{i}" not in not_zero_one else m
               for i, m in enumerate(plan.metrics)]
    return replace(plan, metrics=metrics)
