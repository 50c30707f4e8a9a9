"""--by: one configuration's metric compared between slices ("does the answer differ between email and chat?").

Trials J and M wrote a script of their own for it. Slices hold different inputs, so the comparison is unpaired:
for a right/wrong metric with one row per input (each slice's interval a Wilson interval), Fisher's exact test of
the two proportions and Newcombe's hybrid score interval of their difference, built from the two Wilson intervals
(Newcombe 1998, method 10). Every such comparison of the primary metric in a version is one family, adjusted
together. Not computed for other metrics (a score, seeds, folds: their slices' intervals are not Wilson ones),
and the report says so. Whether a *difference between configurations* changes between slices (an interaction)
is a further question, not answered here.
"""

from __future__ import annotations

import math
from itertools import combinations

from _bench.stats import adjust_p_values

MAX_SLICES = 6  # 15 pairs of slices per configuration; beyond, the family grows faster than it informs


def between_slices(strata: list[dict], metric: str, by: list[str], alpha: float, adjust: str) -> dict | None:
    """{"metric", "rows": [...], "not_computed": reason or None}, or None without slices."""
    if not by:
        return None
    versions: dict[tuple, list[dict]] = {}
    for stratum in strata:
        key = tuple(sorted((k, str(v)) for k, v in (stratum["version"] or {}).items() if k not in by))
        versions.setdefault(key, []).append(stratum)
    rows, reason = [], None
    for slices in versions.values():
        if len(slices) > MAX_SLICES:
            reason = f"more than {MAX_SLICES} slices"
            continue
        for first, second in combinations(slices, 2):
            ours = {c["label"]: c["metrics"].get(metric) for c in first["configurations"]}
            for c in second["configurations"]:
                a, b = ours.get(c["label"]), c["metrics"].get(metric)
                if not a or not b or not a["n"] or not b["n"]:
                    continue
                if a["interval"] != "wilson" or b["interval"] != "wilson":
                    reason = "the metric is not right/wrong with one row per input"
                    continue
                rows.append(_compare(c["label"], first["label"], a, second["label"], b))
    for row, adjusted in zip(rows, adjust_p_values([r["p_value"] for r in rows], adjust), strict=True):
        row["p_adjusted"] = adjusted
        row["verdict"] = ("no detectable difference" if adjusted >= alpha else
                          f"higher in {row['slice']}" if row["difference"] > 0 else f"lower in {row['slice']}")
    if not rows and reason is None:
        return None
    return {"metric": metric, "rows": rows, "family_size": len(rows), "not_computed": None if rows else reason,
            "test": "Fisher's exact test; Newcombe's hybrid score interval (unpaired: different inputs)"}


def _compare(label: str, ref_slice: str, ref: dict, slice_: str, other: dict) -> dict:
    """`slice_` minus `ref_slice` for one configuration."""
    from scipy.stats import fisher_exact  # slow to import: only when slices are compared

    k_ref, k = round(ref["estimate"] * ref["n"]), round(other["estimate"] * other["n"])
    p, q = other["estimate"], ref["estimate"]
    d = p - q
    low = d - math.sqrt((p - other["ci_low"]) ** 2 + (ref["ci_high"] - q) ** 2)
    high = d + math.sqrt((other["ci_high"] - p) ** 2 + (q - ref["ci_low"]) ** 2)
    test = fisher_exact([[k, other["n"] - k], [k_ref, ref["n"] - k_ref]])
    return {"configuration": label, "slice": slice_, "reference_slice": ref_slice, "estimate": p,
            "reference_estimate": q, "n": other["n"], "reference_n": ref["n"], "difference": round(d, 6),
            "ci_low": round(low, 6), "ci_high": round(high, 6), "p_value": float(test.pvalue)}
