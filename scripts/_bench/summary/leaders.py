"""--by: which configuration leads each slice on the primary metric, and whether the lead changes between slices.

Trial C sliced by source and by length and had to read every slice's table to say whether the ranking changes.
Per slice: the leaders (rank 1, ties included) and, from that slice's own comparisons, the configurations no
leader is detectably better than. The lead changes only if no configuration leads (or ties for the lead) in
every slice; and a different leader where it is not detectably ahead of the others is not evidence of a change,
so the sentence says which it is. Leaders are judged within each slice, its own family; one configuration
across slices is between.py's.
"""

from __future__ import annotations


def slice_leaders(strata: list[dict], metric: str) -> dict | None:
    """{"slices": [{slice, leaders, not_beaten}], "same_leader": bool, "sentence"}, or None without slices."""
    rows = []
    for stratum in strata:
        ranked = [c for c in stratum["configurations"] if c.get("rank") is not None]
        if not ranked:
            continue
        leaders = [c["label"] for c in ranked if c["rank"] == 1]
        if len(leaders) == len(ranked) > 1:  # every configuration tied: no one ahead of anyone (trial L)
            rows.append({"slice": stratum["label"], "leaders": leaders, "not_beaten": [], "all_tied": True})
            continue
        beaten = set()  # detectably worse than a leader (a comparison is its configuration minus its reference)
        for c in stratum["comparisons"]:
            if c["metric"] == metric and c["verdict"] == "worse" and c["reference"] in leaders:
                beaten.add(c["configuration"])
            elif c["metric"] == metric and c["verdict"] == "better" and c["configuration"] in leaders:
                beaten.add(c["reference"])
        not_beaten = [c["label"] for c in ranked if c["label"] not in leaders and c["label"] not in beaten]
        rows.append({"slice": stratum["label"], "leaders": leaders, "not_beaten": not_beaten})
    if len(rows) < 2:
        return None
    common = set.intersection(*(set(r["leaders"]) for r in rows))
    ahead = [r for r in rows if not r["not_beaten"] and not r.get("all_tied")]
    if common:
        sentence = (f"{' and '.join(sorted(common))} lead{'s' if len(common) == 1 else ''} (or tie for the lead in) "
                    f"every slice on {metric}.")
    elif ahead:
        sentence = (f"The leader on {metric} changes between slices, and in {len(ahead)} of {len(rows)} it is "
                    "detectably better than every other configuration there: a change in ranking, within those "
                    "slices' own families.")
    else:
        sentence = (f"The leader on {metric} differs between slices, but in none is it detectably better than every "
                    "other configuration there: not evidence that the ranking changes.")
    return {"metric": metric, "slices": rows, "same_leader": bool(common), "sentence": sentence}
