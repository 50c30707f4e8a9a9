"""--plan-only: a pilot's plan without its results.

Sizing a run from a pilot means choosing the full size before reading the pilot's differences and p-values: a
p read early, and the run stopped or extended on it, is optional stopping, which makes a chance difference pass
far more often than alpha. Trial M read the sizes out of --json by hand to stay blind; this prints them alone.
What each comparison needs rests on the pilot's spread (its discordant share, its SD of differences), which the
plan's explanation names; no estimate, interval, difference or p is shown.
"""

from __future__ import annotations

from _bench.summary.render import _table, every_pair, planned_text


def plan_only(doc: dict) -> dict:
    """The plan of every version: per comparison its metric, the two configurations, family size and `needed`."""
    return {"plan_only": True, "items_needed": doc["options"]["items_needed"],
            "alpha": doc["options"]["alpha"], "summary": doc["summary"],
            "versions": [{"label": v["label"], "version": v["version"],
                          "plan": [{"metric": c["metric"], "pair": sorted((c["configuration"], c["reference"])),
                                    "family": c.get("family"), "family_size": c.get("family_size"),
                                    "needed": c.get("needed")} for c in v["comparisons"]]}
                         for v in doc["versions"]]}


def plan_markdown(plan: dict, doc: dict) -> str:
    s = plan["summary"]
    lines = ["# Plan from a pilot", "",
             f"Table `{s['table']}` in {', '.join(s['files'])}: {s['rows_inspected']:,} rows. For each comparison, "
             f"how many items a true difference of {plan['items_needed']:g} needs for 80% power at the alpha its "
             f"family leaves (alpha {plan['alpha']:g}). The pilot's estimates, differences and p-values are not "
             "shown (--plan-only): choose the full size now, run to it, then read the results."
             + (" Every pair is planned (--pairs best would name the pilot's best; a reference named with --pairs "
                "CONFIG plans its pairs alone)." if doc["options"]["pairs"] == "all" else "")]
    for version in plan["versions"]:
        lines += ["", f"## {version['label']}" if version["version"] else "## Plan", ""]
        sized = [c for c in version["plan"] if c.get("needed")]
        if not sized:
            lines.append("No comparison to plan (one configuration, or no metric).")
            continue
        # the pair in name order: a named reference is in every pair, but was chosen before the pilot
        lines += _table(["metric", "pair", "needed"], "lll",
                        [[c["metric"], " and ".join(c["pair"]),
                          planned_text(c["needed"])] for c in sized])
        for metric in dict.fromkeys(c["metric"] for c in sized):
            lines += every_pair([{**c, "configuration": c["pair"][0], "reference": c["pair"][1]}
                                 for c in sized if c["metric"] == metric])
    return "\n".join(lines) + "\n"
