"""A regression benchmark through export_summary: real scikit-learn regressors on the bundled diabetes data,
per-example rows written by xetrack (both engines). Trial P: prediction and ground_truth columns made export
derive an accuracy (prediction = ground_truth), which for predicted values reads 0 [0, 0] on every model, with a
second family of pairs of zeros and an interval warning. Fractional predictions now derive none, and say why."""

from __future__ import annotations

import json

import export_summary
import numpy as np
import pytest
from helpers import call_main
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsRegressor
from xetrack_fixtures import log_rows

MODELS = {"ridge": lambda: Ridge(alpha=1.0), "knn": lambda: KNeighborsRegressor(n_neighbors=15)}


def regression_rows(n: int = 200) -> list[dict]:
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:n], y[:n]  # the target: integers stored as floats (151.0), like many regression targets
    rows = []
    for name, make in MODELS.items():
        for train, test in KFold(5, shuffle=True, random_state=0).split(X):
            predicted = make().fit(X[train], y[train]).predict(X[test])
            rows += [{"model": name, "input_id": int(i), "prediction": float(p), "ground_truth": float(y[i]),
                      "abs_error": float(abs(p - y[i]))} for i, p in zip(test, predicted, strict=True)]
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return regression_rows()


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_fractional_predictions_derive_no_accuracy_and_the_report_says_why(tmp_path, capsys, rows, engine):
    db = tmp_path / "regression.db"
    log_rows(db, rows, engine=engine, table="predictions")
    code, out, err = call_main(export_summary.main, capsys, str(db), "predictions", "--metric", "abs_error:lower",
                               "--pairs", "all", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [m["name"] for m in doc["inferred"]["measures"]["metrics"]] == ["abs_error"]
    (version,) = doc["versions"]
    assert {k["metric"] for k in version["comparisons"]} == {"abs_error"} and len(version["comparisons"]) == 1
    assert not [f for f in doc["findings"] if f["check_id"] in ("interval-without-width", "no-accuracy-for-fractions")]
    # no --metric: the report says why there is none, and names the fix (not 'no prediction/ground-truth pair')
    code, out, err = call_main(export_summary.main, capsys, str(db), "predictions", "--json")
    assert code == 0, err
    findings = {f["check_id"]: f for f in json.loads(out)["findings"]}
    assert "no-metric" not in findings and findings["no-accuracy-for-fractions"]["message"].startswith(
        "No metric: no accuracy is derived, as prediction holds numbers with fractions")
    assert "--metric abs_error:lower" in findings["no-accuracy-for-fractions"]["hint"]
    code, _, err = call_main(export_summary.main, capsys, str(db), "predictions", "--metric", "accuracy")
    assert code == 2 and err.count("\n") == 1 and "prediction holds numbers with fractions" in err


def test_labels_stored_as_real_numbers_still_derive_accuracy(tmp_path, capsys, rows):
    """The quiet side: a classifier's labels written as floats (0.0/1.0) are labels, not predicted values."""
    labelled = [{**r, "prediction": float(r["prediction"] > 150), "ground_truth": float(r["ground_truth"] > 150)}
                for r in rows]
    db = tmp_path / "labels.db"
    log_rows(db, labelled, engine="sqlite", table="predictions")
    code, out, err = call_main(export_summary.main, capsys, str(db), "predictions", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [m["name"] for m in doc["inferred"]["measures"]["metrics"]] == ["accuracy"]
    assert not [f for f in doc["findings"] if f["check_id"] == "no-accuracy-for-fractions"]
    accuracy = {c["label"]: c["metrics"]["accuracy"]["estimate"] for c in doc["versions"][0]["configurations"]}
    expected = {f"model={m}": np.mean([r["prediction"] == r["ground_truth"] for r in labelled if r["model"] == m])
                for m in MODELS}
    assert accuracy == pytest.approx(expected, abs=1e-6) and 0.5 < min(accuracy.values()) < 1
