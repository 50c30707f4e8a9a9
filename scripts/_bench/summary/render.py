"""export_summary's outputs, all drawn from the one summary document: Markdown, CSV and a PNG picture."""

from __future__ import annotations

import math
from pathlib import Path

from _bench.layout import fold_sample_size, items_are_folds, labels_note, moved_note, replicate_unit
from _bench.summary.load import client_limited
from _bench.summary.model import TEST_NAMES, fmt, fmt_interval, fmt_p
from _bench.summary.slo import runs_cut_calls
from _bench.summary.target import meeting_all

VERDICT_COLOURS = {"best": "#1b6ca8", "reference": "#8e44ad", "better": "#2e8b57", "worse": "#c0392b",
                   "no detectable difference": "#7f8c8d", "not comparable": "#bdc3c7"}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(header: list[str], align: str, rows: list[list[str]]) -> list[str]:
    sep = ["---:" if a == "r" else "---" for a in align]
    return [_row(header), _row(sep), *(_row(r) for r in rows)]


def _interval(m: dict) -> str:
    if m["n"] == 0:
        return "-"
    if m["ci_low"] is None:
        return fmt(m["estimate"])
    return fmt_interval(m["estimate"], m["ci_low"], m["ci_high"])


def _dz_per_item_note(stratum: dict, comparisons: list[dict], described: dict) -> list[str]:
    """Repeated k-fold CV on per-item rows: the corrected t compares per-fold means, while d_z (as for every
    test) standardises the per-item differences, which spread far more; the per-fold table (one row per fold)
    of the same run gives the same pair a d_z several times larger. Say which one this is."""
    folds = any(items_are_folds(described, c) for c in stratum["configurations"])
    if folds or not any(c["test"] == "corrected-resampled-t" and c["effect_size"]["value"] is not None
                        for c in comparisons):
        return []
    return ["", "d_z here is per item (one input in one fold): the corrected t compares per-fold means, which "
                "vary far less than single items, so a table with one row per fold gives the same pair a larger "
                "d_z. Quote the difference and its interval; compare d_z only between tables of one kind."]


def _config_table(stratum: dict, doc: dict) -> list[str]:
    metrics = doc["inferred"]["measures"]["metrics"]
    plan = doc["inferred"]["measures"]
    described = doc["inferred"]["layout"]
    folds = [items_are_folds(described, c) for c in stratum["configurations"]]
    replicated = any(c["inputs"] is not None for c in stratum["configurations"]) and not all(folds)
    unit = replicate_unit(described)
    header = ["rank", "configuration", f"items (inputs x {unit})" if replicated else "items", "failed"]
    ci = f"{doc['options']['confidence']:.0%} CI"
    header += [f"{m['name']} ({m['better']} is better) [{ci}]" for m in metrics]
    if plan["latency"]:
        latency_unit = f" ({plan['latency_unit']})" if plan["latency_unit"] else ""
        per_input = next((c["latency"]["per_input"] for c in stratum["configurations"]
                          if (c.get("latency") or {}).get("per_input")), None)
        over = f", of each input's {per_input}" if per_input else ""
        at = next((c["latency"]["failures_counted_at"] for c in stratum["configurations"]
                   if (c.get("latency") or {}).get("failures_counted_at") is not None), None)
        over += (f", failed calls at {at:g}{' ' + plan['latency_unit'] if plan['latency_unit'] else ''} or their "
                 "own time if longer" if at else ", failed calls at their own time" if at is not None else "")
        header.append(f"{plan['latency']}{over} p50 [{ci}] / p95 [{ci}] / p99 [{ci}]{latency_unit}")
    # trial A asked for the cost per call and found only the total: the CSV's cost_per_item, shown beside it
    per_item = any(c.get("cost_per_item") is not None for c in stratum["configurations"])
    for extra in ("tokens", "cost"):
        if plan[extra]:
            header.append(f"{plan[extra]} (total{', per item' if extra == 'cost' and per_item else ''})")
    per_right = next((c["cost_per_right"]["metric"] for c in stratum["configurations"] if c.get("cost_per_right")),
                     None)
    if per_right:
        header.append(f"{plan['cost']} per right answer ({per_right}) [{ci}]")
    rows = []
    for c, per_fold in zip(stratum["configurations"], folds, strict=True):
        # "1=": tied, not a win; "-": no metric, nothing ranked
        rank = "-" if not metrics else f"{c['rank']}=" if c["tied"] else str(c["rank"])
        pooled = described.get("pooled")
        if c["inputs"] is None:
            items = f"{c['items']:,}"
        elif per_fold:
            items = fold_sample_size(c["items"], c["replicates"], unit)
        elif pooled:  # items are (input, replicate, pooled values): the product of two counts would mislead
            items = f"{c['items']:,} ({c['inputs']:,} inputs; pooled over {', '.join(pooled)})"
        elif c["inputs"] * c["replicates"] == c["items"]:
            items = f"{c['items']:,} ({c['inputs']:,} x {c['replicates']:,})"
        else:  # not every input under every replicate: the product would be wrong
            items = f"{c['items']:,} ({c['inputs']:,} inputs, {c['replicates']:,} {unit}; not all crossed)"
        row = [rank, c["label"], items, f"{c['failed']:,}"]
        row += [_interval(c["metrics"][m["name"]]) + _of_items(c["metrics"][m["name"]], c["items"])
                for m in metrics]
        if plan["latency"]:
            lat = c["latency"]
            # trial L: p99 was the question and its interval only in the CSV
            row.append(" / ".join(f"{_latency(lat.get(p))} {_bounds(lat.get(f'{p}_ci'))}" for p in PERCENTILES)
                       if lat.get("p50") is not None else "-")
        for extra in ("tokens", "cost"):
            if plan[extra]:
                row.append(fmt(c[extra], 4 if extra == "cost" else 0)
                           + (f", {_cost(c.get('cost_per_item'))}" if extra == "cost" and per_item else ""))
        if per_right:
            row.append(_per_right(c.get("cost_per_right")))
        rows.append(row)
    table = _table(header, "rlrr" + "l" * (len(header) - 4), rows)
    # only the cells shown with numbers: a configuration without latencies (replayed rows) reads '-' (trial H)
    open_ends = set().union(*(_open_ends({p: (c.get("latency") or {}).get(f"{p}_ci") for p in PERCENTILES})
                              for c in stratum["configurations"] if (c.get("latency") or {}).get("p50") is not None))
    return table + (["", open_ends_note(open_ends, doc["options"]["confidence"])] if open_ends else [])


def _leaders(leaders: dict | None, doc: dict) -> list[str]:
    """--by: each slice's leader on the primary metric and who it is not detectably ahead of (leaders.py)."""
    if not leaders:
        return []
    lines = ["", f"**Leaders by slice** ({leaders['metric']}; ties listed together):"]
    for row in leaders["slices"]:
        close = ("; all tied" if row.get("all_tied") else
                 f"; not detectably ahead of {', '.join(row['not_beaten'])}" if row["not_beaten"]
                 else "; detectably ahead of every other")
        lines.append(f"- {row['slice']}: {' = '.join(row['leaders'])}{close}")
    return lines + ["", leaders["sentence"], *_by_slice_table(leaders, doc)]


def _between(between: dict | None, doc: dict) -> list[str]:
    """--by: each configuration's primary metric, slice against slice (between.py)."""
    if not between:
        return []
    if between["not_computed"]:
        return ["", f"**Between slices** ({between['metric']}): not compared, {between['not_computed']}."]
    ci = f"{doc['options']['confidence']:.0%} CI"
    rows = [[r["configuration"], f"{r['slice']} vs {r['reference_slice']}",
             f"{fmt(r['estimate'])} vs {fmt(r['reference_estimate'])}",
             fmt_interval(r["difference"], r["ci_low"], r["ci_high"]), fmt_p(r["p_value"]), fmt_p(r["p_adjusted"]),
             f"**{r['verdict']}**"] for r in between["rows"]]
    header = ["configuration", "slices", between["metric"], f"difference [{ci}]", "p", "adjusted p", "verdict"]
    return ["", f"**Between slices** ({between['metric']} of each configuration, one slice against another: "
                f"{between['test']}; the {between['family_size']} comparisons adjusted as one family, "
                f"{doc['options']['adjust']}):", "", *_table(header, "lllllll", rows)]


def _by_slice_table(leaders: dict, doc: dict) -> list[str]:
    """Every configuration's primary metric in every slice, with its interval; each slice's leader in bold (trial
    F: "how does each do per kind?" wanted one table, not a table per slice)."""
    metric, lead = leaders["metric"], {row["slice"]: row["leaders"] for row in leaders["slices"]}
    strata = [v for v in doc["versions"] if v["label"] in lead]
    values = [{c["label"]: c["metrics"][metric] for c in v["configurations"] if metric in c["metrics"]} for v in strata]
    labels = list(dict.fromkeys(label for row in values for label in row))

    def cell(k: int, label: str) -> str:
        shown = _interval(values[k][label]) if label in values[k] else "-"
        return f"**{shown}**" if label in lead[strata[k]["label"]] else shown

    header = ["configuration", *(v["label"] for v in strata)]
    return ["", f"{metric} by slice ({doc['options']['confidence']:.0%} CI; each slice's leader in bold):", "",
            *_table(header, "l" + "r" * len(strata), [[label, *(cell(k, label) for k in range(len(strata)))]
                                                      for label in labels])]


def _stratum_kind(stratum: dict, doc: dict) -> str:
    """'Slice' when what tells this stratum apart is only --by's columns, else 'Version'."""
    by = set(doc["options"].get("by") or ())
    varying = {k for k in stratum["version"] if len({repr((v["version"] or {}).get(k)) for v in doc["versions"]}) > 1}
    return "Slice" if by and varying and varying <= by else "Version"


def _slo_section(stratum: dict, doc: dict) -> list[str]:
    """--slo on a benchmark table: each configuration's broken share per clause, and its verdict (slo.py)."""
    judged = [c for c in stratum["configurations"] if c.get("slo")]
    if not judged:
        return []
    clauses = [cl["clause"] for cl in judged[0]["slo"]["clauses"]]
    ci = f"{doc['options']['confidence']:.0%} CI"
    header = ["configuration", "calls", *(f"{c}: share broken [{ci}]" for c in clauses), "verdict"]
    rows = [[c["label"], f"{c['slo']['clauses'][0]['calls']:,}",
             *(f"{cl['share']:.2%} [{cl['low']:.2%}, {cl['high']:.2%}] of {cl['allowed']:.2%} allowed"
               + (f" (~{cl['calls_to_decide']:,} calls would decide)" if cl.get("calls_to_decide") else "")
               if cl["share"] is not None else "no calls" for cl in c["slo"]["clauses"]),
             f"**{c['slo']['verdict']}**"] for c in judged]
    by = {v: [c["label"] for c in judged if c["slo"]["verdict"] == v] for v in ("meets", "fails", "undecided")}
    said = "; ".join(f"{v}: {', '.join(names)}" for v, names in by.items() if names)
    return ["", f"### SLO {', '.join(clauses)}, per configuration", "", *_table(header, "lr" + "l" * len(clauses) + "l",
                                                                                  rows), "",
            f"{said}. A call breaks pQ<T when it failed or took longer than T (allowed: 1 - Q/100 of the calls), "
            "errors<X% when it failed; computed calls only (replays timed nothing). meets: the whole interval of "
            "the broken share is below what is allowed; fails: wholly above; undecided: it straddles (more calls "
            "would decide, about as many in all as shown, if the share stays as it is). Intervals: exact, over the "
            "effective number of calls (an input's calls, or a run of consecutive calls, can be slow together), "
            "so a verdict can stay undecided where the percentile's interval, which counts only an input's calls "
            "as alike, lies wholly past the limit.", *_runs_note(judged),
            *_slo_within(judged, doc["options"].get("within") or [])]


def _slo_within(judged: list[dict], within: list[str]) -> list[str]:
    """--within: how many configurations of each group meet, fail or are undecided: with a run's track_id as the
    other configuration column, how many repeated runs agree (trial R counted them by hand)."""
    if not within:
        return []
    groups: dict[str, list[str]] = {}
    for c in judged:
        key = ", ".join(str(c["configuration"].get(w)) for w in within)
        groups.setdefault(key, []).append(c["slo"]["verdict"])
    rows = [[key, f"{len(v):,}", *(f"{v.count(x):,}" for x in ("meets", "fails", "undecided"))]
            for key, v in groups.items()]
    return ["", f"Verdicts within each {', '.join(within)} (--within): how many of its configurations (repeated "
                "runs, when the other column is a run's track_id) meet, fail or are undecided:", "",
            *_table([", ".join(within), "judged", "meets", "fails", "undecided"], "lrrrr", rows)]


def _target_section(stratum: dict, doc: dict) -> list[str]:
    """--target: each configuration's metric against each bar, its verdict, and which meet every bar (cheapest
    first when there is a cost per item)."""
    judged = [c for c in stratum["configurations"] if c.get("targets")]
    if not judged:
        return []
    targets = [t["target"] for t in judged[0]["targets"]]
    ci = f"{doc['options']['confidence']:.0%} CI"
    costed = any(c.get("cost_per_item") is not None for c in judged)
    header = ["configuration", *(f"{t} [{ci}]: verdict" for t in targets), *(["cost per item"] if costed else [])]
    rows = [[c["label"], *(f"{fmt_interval(t['estimate'], t['ci_low'], t['ci_high'])}: **{t['verdict']}**"
                           for t in c["targets"]),
             *([_cost(c.get("cost_per_item"))] if costed else [])] for c in judged]
    met = meeting_all(judged)
    if met:
        said = f"Meets every target: {', '.join(c['label'] for c in met)}" + (
            f"; the cheapest per item: {met[0]['label']} ({_cost(met[0]['cost_per_item'])})"
            if costed and met[0].get("cost_per_item") is not None else "") + "."
    else:
        said = "No configuration meets every target."
    undecided = [c["label"] + "".join(f" (~{t['items_to_decide']:,} items in all would decide {t['target']})"
                                      for t in c["targets"] if t.get("items_to_decide"))
                 for c in judged if any(t["verdict"] == "undecided" for t in c["targets"])]
    if undecided:
        said += (f" Undecided (the interval contains the bar: more items would decide, about as many in all as "
                 f"shown if the share stays as it is): {', '.join(undecided)}.")
    return ["", f"### Target {', '.join(targets)}, per configuration", "", *_table(
        header, "l" * len(header), rows), "",
        f"{said} meets: the whole interval is on the right side of the bar; fails: wholly on the wrong side. Each "
        f"configuration's own {ci}, not adjusted for the {len(judged)} judged: a configuration truly on the other "
        f"side of the bar gets a wrong verdict with at most {(1 - doc['options']['confidence']) / 2:.1%} chance (one "
        "end of its interval), so among many near the bar expect the odd one."]


def _cost(value: float | None) -> str:
    """Four significant digits, never in exponent form (trial G: a cost per review read 6.659e-05)."""
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 1:
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return f"{value:.{3 - math.floor(math.log10(abs(value)))}f}".rstrip("0")  # 0.00006659 a review, 0.15 a ticket


def _runs_note(judged: list[dict]) -> list[str]:
    """Where a run of consecutive broken rows cut the effective calls to under a quarter: say so, and that rows
    written in one batch after the calls (not in call order) make this too cautious."""
    runs = [f"{c['label']} {k['clause']}: {k['broken']:,} broken, in runs of up to {k['longest_broken_run']:,} "
            f"consecutive rows: ~{k['effective_calls']:,.0f} effective calls of {k['calls']:,}"
            for c in judged for k in c["slo"]["clauses"]
            if runs_cut_calls(k)]
    if not runs:
        return []
    # trial F: a data file sorted by kind, where one kind is slow, read as "stalls"
    return ["", "Broken calls came in long runs of consecutive rows, so neighbouring calls count as one piece of "
                "evidence (a stall or background load does this, and so do consecutive inputs alike in cost: a data "
                "file sorted by kind; shuffle it to tell them apart): " + "; ".join(runs) + ". If the rows were not "
                "logged as the calls ran (written in one batch afterwards, e.g. failures last: their timestamps "
                "span seconds), runs say nothing: --rows-not-in-call-order."]


def _p_header(adjust: str, family: str, size: int) -> str:
    """The adjusted p's column names its family, so nobody reads it as a p on its own."""
    if adjust == "none":
        return "p (unadjusted)"
    name = {"holm": "Holm", "bh": "BH"}[adjust]
    return f"p ({name}-adjusted in family '{family}' of {size})"


def _comparison_table(comparisons: list[dict], adjust: str, ci: str, against: str) -> list[str]:
    verdict = "verdict (from unadjusted p)" if adjust == "none" else "verdict (from adjusted p)"
    first = comparisons[0]
    header = ["configuration", "shared items", f"excluded ({against} only / this only)",
              f"difference vs {against} [{ci}, unadjusted]", "effect size d_z",
              "test (discordant items: right only here / only there)" if any(c.get("discordant") for c in comparisons)
              else "test",
              _p_header(adjust, first["family"], first["family_size"]), verdict, _detectable_header(first)]
    planned = first.get("needed") is not None and against != "each other"  # all pairs: a planning table
    if planned:
        header.append("needed for the planned difference")
    if against == "each other":
        header[:4] = ["configuration", "vs", "shared items", "excluded (vs only / this only)",
                      f"difference (configuration - vs) [{ci}, unadjusted]"]
    rows = []
    for c in comparisons:
        effect = c["effect_size"]
        dz = "-" if effect["value"] is None else f"{effect['value']:.2f}" + (
            f" ({effect['magnitude']})" if effect["magnitude"] else "")
        diff = "-" if c["delta"] is None else (
            fmt_interval(c["delta"], c["ci_low"], c["ci_high"]) if c["ci_low"] is not None
            else fmt(c["delta"]))
        test = TEST_NAMES.get(c["test"], c["test"] or "-")
        if c.get("discordant"):  # trial E: the report sentence of a paired 0/1 test quotes them (statistics.md)
            test += " ({:,} / {:,})".format(*c["discordant"])
        row = [c["configuration"], f"{c['shared_items']:,}", f"{c['only_reference']:,} / {c['only_other']:,}",
               diff, dz, test, fmt_p(c["p_adjusted"]), c["verdict"], _detectable_cell(c)]
        if planned:
            row.append(planned_text(c["needed"]))
        if against == "each other":
            row[1:1] = [c["reference"]]
        rows.append(row)
    return _table(header, ("ll" if against == "each other" else "l") + "rrllllll" + "l" * planned, rows)


def _planning(mine: list[dict], doc: dict) -> list[str]:
    """--items-needed's answers as a table of their own, where the comparison table has no column for them."""
    if not any(c.get("needed") for c in mine):
        return []
    return ["", f"Planning (--items-needed {doc['options']['items_needed']:g}):", ""] + _table(
        ["configuration", "vs", "needed"], "lll",
        [[c["configuration"], c["reference"], planned_text(c["needed"])] for c in mine if c.get("needed")]) + \
        every_pair(mine)


def every_pair(mine: list[dict]) -> list[str]:
    """One number for the run (trial Z sized its run by reading the per-pair table): the most any pair needs, which
    gives every pair its own (each configuration on that many), in this family."""
    def amount(c: dict) -> int | None:
        need = c.get("needed") or {}
        return need.get("inputs_needed") or need.get("count")

    sized = [c for c in mine if amount(c)]
    if len(sized) < 2:
        return []
    worst = max(sized, key=amount)
    unit = "inputs" if worst["needed"].get("inputs_needed") else worst["needed"]["unit"]
    unsized = len([c for c in mine if c.get("needed") and not amount(c)])
    return ["", f"Every pair at once: about {amount(worst):,} {unit}, the most any pair needs ({worst['configuration']} "
                f"vs {worst['reference']}), in this family of {worst['family_size']}"
                + (f"; {unsized} pair(s) without a number are not counted" if unsized else "")
                + ". A configuration added later grows the family, and what each pair needs."]


def planned_text(need: dict | None) -> str:
    """--items-needed's answer at the family's alpha, and for the pair tested alone where that differs."""
    if not need:
        return "-"
    alone = need.get("count_alone"), need.get("inputs_needed_alone")
    if alone == (need["count"], need.get("inputs_needed")) or alone == (None, None):
        return need["explanation"]
    count = f"{alone[0]:,} {need['unit']}" if alone[0] is not None else f"~{alone[1]:,} inputs"
    return f"{need['explanation']}; tested alone (a fresh run of just this pair, the same design, at alpha): {count}"


def _bounds(ci: list | None) -> str:
    """[low, high] of a percentile; an end the data cannot bound (too few inputs in the tail) is '?'."""
    low, high = ci or (None, None)
    return f"[{'?' if low is None else _latency(low)}, {'?' if high is None else _latency(high)}]"


def calls_to_bound(q: float, end: str, confidence: float) -> int:
    """The fewest independent calls whose order statistics bound the q-th percentile at that end: the upper end
    needs a call above it with probability 1 - alpha/2 ((q/100)^n <= alpha/2), the lower end one below it.
    At 95 %: p95's upper end 72 calls, p99's 368, p50's either end 6 (tests: percentile_intervals agrees)."""
    share = q / 100 if end == "high" else 1 - q / 100
    return math.ceil(math.log((1 - confidence) / 2) / math.log(share))


def open_ends_note(open_ends: set[tuple[str, str]], confidence: float, calls: str = "calls",
                   clustered: bool = True) -> str:
    """What a '?' in a percentile's interval means, and how many calls would bound it (trial: '[229.960, ?]'
    was left unexplained). `open_ends`: the (percentile such as 'p95', 'low' or 'high') shown open."""
    needs = [f"its {'upper' if end == 'high' else 'lower'} end for {p} needs at least "
             f"{calls_to_bound(float(p[1:]), end, confidence):,} independent {calls}"
             for p, end in sorted(open_ends, key=lambda e: (float(e[0][1:]), e[1]))]
    more = f", more when an input's {calls} are slow together" if clustered else ""
    ends = {end for _, end in open_ends}
    read = ("at least its lower end" if ends == {"high"} else "at most its upper end" if ends == {"low"}
            else "within the ends shown")
    return (f"A '?' end: the data cannot bound it at {confidence:.0%} ({'; '.join(needs)}{more}); with fewer, "
            f"the most extreme {calls[:-1]} is not a bound, so such a percentile is known only to be {read}.")


PERCENTILES = ("p50", "p95", "p99")  # each with its interval in the Markdown table


def _open_ends(intervals: dict[str, list | tuple | None]) -> set[tuple[str, str]]:
    return {(p, end) for p, ci in intervals.items() if ci for end, v in zip(("low", "high"), ci, strict=True)
            if v is None}


def _latency(x: float | None) -> str:
    """Three decimals, or three significant digits below 0.1: a 30-microsecond call in seconds is 3.12e-05, not
    0.000 (trial N's fits all read 0.000 / 0.000 / 0.000)."""
    if x is None or x == 0 or abs(x) >= 0.1:
        return fmt(x)
    return f"{x:.3g}"


def _per_right(cost: dict | None) -> str:
    if not cost or cost["estimate"] is None:
        return "-"
    high = fmt(cost["ci_high"], 6) if cost["ci_high"] is not None else "no bound"
    return f"{fmt(cost['estimate'], 6)} [{fmt(cost['ci_low'], 6)}, {high}]"


def _of_items(metric: dict, items: int) -> str:
    """' (n=18)' when the metric has values for fewer items than the configuration has (failed calls left out,
    unparsed answers, NULL scores): the interval is over those n, and the table must not let it pass for all."""
    n = metric.get("n")
    return f" (n={n:,})" if n is not None and n != items else ""


def _ranks_disagree(comparisons: list[dict]) -> list[str]:
    """Pairs whose signed-rank test leaned against their mean difference: said, since their verdict is none."""
    pairs = [f"{c['configuration']} vs {c['reference']}" for c in comparisons if c.get("ranks_disagree")]
    if not pairs:
        return []
    return ["", f"No verdict for {', '.join(pairs)}: the signed-rank test finds a difference (p below alpha after "
                "adjustment), but most items lean the other way from the mean difference, which a few large "
                "differences set (a heavy tail). Compare medians and the largest differences before saying "
                "which is better."]


def _not_estimable(comparisons: list[dict]) -> list[str]:
    """Why a detectable difference is n/a (too few discordant items, no spread, ...): each reason once, with
    the pairs it applies to."""
    pairs: dict[str, list[str]] = {}
    for c in comparisons:
        d = c.get("detectable")
        if d and d["difference"] is None and d["note"]:
            pairs.setdefault(d["note"], []).append(f"{c['configuration']} vs {c['reference']}")
    return ["", "n/a: " + "; ".join(f"{note} ({', '.join(names)})" for note, names in pairs.items()) + "."] \
        if pairs else []


def _detectable_header(c: dict) -> str:
    d = c.get("detectable") or {}
    alpha = f"alpha {d['alpha']:g}" if d.get("alpha") is not None else "alpha"
    return f"detectable at 80% power ({alpha}{', conservative' if d.get('conservative') else ''})"


def _detectable_cell(c: dict) -> str:
    d = c.get("detectable")
    if not d:
        return "-"
    return fmt(d["difference"]) if d["difference"] is not None else "n/a"


MATRIX_MAX = 10  # configurations up to which every pair fits in a readable matrix
SHORT_VERDICT = {"better": "better", "worse": "worse", "no detectable difference": "no diff.",
                 "not comparable": "n/c"}


def _pair_matrix(comparisons: list[dict], order: list[str]) -> list[str]:
    """Row minus column, for every pair once (the row is the lower-ranked one), with the verdict."""
    cell = {(c["configuration"], c["reference"]): c for c in comparisons}
    rows = []
    for i, row in enumerate(order[1:], start=1):
        cells = []
        for col in order[:-1]:
            c = cell.get((row, col))
            if c is None:
                cells.append("" if order.index(col) >= i else "-")
            elif c["delta"] is None:
                cells.append(SHORT_VERDICT[c["verdict"]])
            else:
                signed = ("+" if c["delta"] >= 0 else "") + fmt(c["delta"])
                cells.append(f"{signed} {SHORT_VERDICT[c['verdict']]} (mdd {_detectable_cell(c)})")
        rows.append([row, *cells])
    return _table(["row minus column", *order[:-1]], "l" * len(order), rows)


def _pairs_section(stratum: dict, metric: dict, mine: list[dict], doc: dict) -> list[str]:
    adjust, ci = doc["options"]["adjust"], f"{doc['options']['confidence']:.0%} CI"
    order = [c["label"] for c in stratum["configurations"]]
    first = mine[0]
    lines = ["", f"### {metric['name']}: every pair ({len(mine)}), paired on shared items; verdicts from "
                 f"{_p_header(adjust, first['family'], first['family_size'])}", ""]
    if len(order) <= MATRIX_MAX:
        lines += _pair_matrix(mine, order)
        lines += ["", "mdd: the smallest true difference the pair's own test detects with 80% power, at the alpha "
                      "its family leaves (alpha/m, the adjustment's strictest step: conservative). Smaller "
                      "differences are likely to go undetected, so 'no diff.' rules out only differences of about "
                      "the mdd or more."]
        if doc["options"].get("within"):
            lines += ["", f"Only configurations with the same {', '.join(doc['options']['within'])} are compared "
                          "(--within): '-' marks a pair across groups."]
        lines += _not_estimable(mine) + _ranks_disagree(mine)
        # The matrix is the overview; the table below is every pair in full, to paste or to read across.
        lines += ["", "Every pair in full (detectable differences first):", ""]
        detected = [c for c in mine if c["verdict"] in ("better", "worse")]
        lines += _comparison_table(detected + [c for c in mine if c not in detected], adjust, ci, "each other")
        return lines + _planning(mine, doc)
    return lines + _comparison_table(mine, adjust, ci, "each other") + _ranks_disagree(mine)


def _method_line(doc: dict) -> str:
    o = doc["options"]
    if o["adjust"] == "none":
        verdicts = "verdicts follow unadjusted p-values (no adjustment for multiple comparisons)"
    else:
        name = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[o["adjust"]]
        family = ("each metric's comparisons form one family" if o["family"] == "metric" else
                  "all comparisons of a version form one family")
        verdicts = f"verdicts follow {name}-adjusted p-values ({family}, --family)"
    return (f"Intervals: {o['confidence']:.0%}, unadjusted. Tests: two-sided, alpha "
            f"{o['alpha']}; {verdicts}, so a difference whose interval excludes zero can still be 'no detectable "
            f"difference'. Bootstrap: {o['resamples']} resamples, seed {o['seed']}.")


def _cross_validation_line(doc: dict) -> str | None:
    """Repeated k-fold CV changes what is tested; the reader must see it, with the n_test/n_train used."""
    ratios = sorted({c["test_train_ratio"] for s in doc["versions"] for c in s["configurations"]
                     if c["test_train_ratio"] is not None})
    if not ratios:
        return None
    shown = fmt(ratios[0]) if len(ratios) == 1 else f"{fmt(ratios[0])} to {fmt(ratios[-1])}"
    return (f"Repeated cross-validation (fold column `{doc['inferred']['layout']['fold']}`): folds of one seed "
            "share training data, so intervals and comparisons use per-fold values and the Nadeau-Bengio "
            f"corrected resampled t (variance x (1/J + n_test/n_train), J - 1 df; n_test/n_train = {shown}).")


def markdown(doc: dict) -> str:
    s = doc["summary"]
    inferred = doc["inferred"]
    layout = inferred["layout"]
    files = ", ".join(s["files"])
    if doc.get("slo"):  # a load test: its levels and verdicts, none of the benchmark's tables (trial L)
        return _load_markdown(doc)
    lines = ["# Benchmark summary", ""]
    by = doc["options"].get("by")
    if by:  # each configuration appears in every part: count it once
        configs = len({c["label"] for v in doc["versions"] for c in v["configurations"]})
        counts = (f"{configs} configuration(s) in {len(doc['versions'])} part(s), one per version and value of "
                  f"{', '.join(by)} (--by)")
    else:
        counts = f"{s['configurations']} configuration(s), {len(doc['versions'])} version(s)"
    lines.append(f"Table `{s['table']}` in {files}: {s['rows_inspected']:,} rows, {counts}.")
    config = ", ".join(layout["configuration"]) or "none (all rows are one configuration)"
    item = " + ".join(layout["item"]) or "none found (comparisons need --input-col)"
    clusters = f"Clusters: {', '.join(layout['cluster']) or 'none'}."
    over = [*layout["cluster"], *layout.get("pooled", [])]
    if doc["options"].get("unit") == "input" and over:
        clusters = f"Unit: the input, each the mean over its {' and '.join(over)} values (--unit input)."
    labels = labels_note(layout)
    labels = f" ({labels[2:]})" if labels else ""
    lines.append(f"Configuration: {config}{labels}{moved_note(layout)}. Item: {item}. {clusters}")
    lines.append(_method_line(doc))
    cv = _cross_validation_line(doc)
    if cv:
        lines.append(cv)
    if any(m["interval"].endswith("clipped to [0, 1]") for v in doc["versions"] for c in v["configurations"]
           for m in c["metrics"].values()):
        lines.append("Some 0/1-metric intervals reached past 0 or 1 and were clipped to [0, 1] (the `interval` "
                     "field of --json names which).")
    lines += _findings(doc)
    lines += _leaders(doc.get("slice_leaders"), doc)
    lines += _between(doc.get("between_slices"), doc)
    for stratum in doc["versions"]:
        lines += ["", f"## {_stratum_kind(stratum, doc)}: {stratum['label']}" if stratum["version"] else "## Results",
                  ""]
        lines += _config_table(stratum, doc)
        lines += _slo_section(stratum, doc)
        lines += _target_section(stratum, doc)
        for metric in inferred["measures"]["metrics"]:
            mine = [c for c in stratum["comparisons"] if c["metric"] == metric["name"]]
            if not mine:
                continue
            if doc["options"]["pairs"] == "all":
                lines += _pairs_section(stratum, metric, mine, doc)
                continue
            against = "reference" if stratum["reference"] else "best"
            references = list(dict.fromkeys(c["reference"] for c in mine))
            if len(references) > 1:  # --within: each group's own (trial S: the header named one best for all)
                within = ", ".join(doc["options"].get("within") or []) or "its group"
                lines += ["", f"### {metric['name']}: each configuration vs the {against} of its group (--within "
                              f"{within}: {'; '.join(references)}), paired on shared items", ""]
                table_against = "each other"  # a `vs` column says which one each row is compared with
            else:
                lines += ["", f"### {metric['name']}: each configuration vs the {against} ({references[0]}), "
                              "paired on shared items", ""]
                table_against = against
            lines += _comparison_table(mine, doc["options"]["adjust"], f"{doc['options']['confidence']:.0%} CI",
                                       table_against)
            if table_against == "each other":  # that table has no planning column
                lines += _planning(mine, doc)
            else:
                lines += every_pair(mine)
            lines += _not_estimable(mine) + _ranks_disagree(mine)
            if any(c["effect_size"]["value"] is not None and not c["effect_size"]["magnitude"] for c in mine):
                lines += ["", f"{metric['name']} is 0/1 per item: d_z is given without Cohen's size words, which "
                              "understate such differences (halving a small error rate can read 'negligible'); "
                              "read the difference itself."]
            lines += _dz_per_item_note(stratum, mine, layout)
        lines += ["", f"**Headline:** {stratum['headline']}"]
    if any(v["comparisons"] for v in doc["versions"]):
        lines += ["", "Excluded items are missing or failed on one side. \"No detectable difference\" means this "
                      "data cannot tell the two apart; it is not evidence that they are equal."]
    lines.append("")
    return "\n".join(lines)


LABEL_WRAP = 48  # characters per line of a configuration label in the picture
INCHES_PER_CHAR = 0.075  # ~width of one character at the tick label's 9 pt


INVERSE = {"better": "worse", "worse": "better"}


def _verdicts_for_plot(stratum: dict, metric: dict) -> dict[str, str]:
    """Each configuration's colour key for one metric: 'best' where its estimate is the best of the
    configurations it is compared with (a tie is not a loss; with --within, its group's), else its verdict
    against that best; 'reference' for --reference. Each metric by its own estimates (trial S: a second
    metric's panel was coloured by the first metric's best)."""
    name = metric["name"]
    mine = [c for c in stratum["comparisons"] if c["metric"] == name]
    if not mine:
        return {}
    if stratum["reference"]:
        ref = mine[0]["reference"]
        return {**{c["configuration"]: c["verdict"] for c in mine}, ref: "reference"}
    estimate = {c["label"]: c["metrics"][name]["estimate"] for c in stratum["configurations"]
                if c["metrics"][name]["n"] and c["metrics"][name]["estimate"] is not None}
    verdict: dict[tuple[str, str], str] = {}  # (configuration, other): the configuration's verdict against it
    for c in mine:
        verdict[(c["configuration"], c["reference"])] = c["verdict"]
        verdict[(c["reference"], c["configuration"])] = INVERSE.get(c["verdict"], c["verdict"])
    pick = max if metric["better"] == "higher" else min
    out = {}
    for label, value in estimate.items():
        group = [label, *(other for (one, other) in verdict if one == label and other in estimate)]
        best = pick(estimate[g] for g in group)
        if value == best:
            out[label] = "best"
            continue
        leader = next(g for g in group if estimate[g] == best)
        out[label] = verdict[(label, leader)]
    return out


def plot(doc: dict, path: Path) -> None:
    """Each metric's estimate with its interval per configuration, best at the top, coloured by verdict."""
    import matplotlib.pyplot as plt

    fig = figure(doc)
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def figure(doc: dict):
    """The picture as a matplotlib Figure. Labels are wrapped and the figure is as wide as they need, and
    titles are wrapped to their panel, so no text is cut off at the edge of the picture."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")  # no display needed; must be chosen before pyplot is imported
    import matplotlib.pyplot as plt

    metrics = doc["inferred"]["measures"]["metrics"]
    several = len(doc["versions"]) > 1
    rows = []  # (label, {metric: (estimate, low, high, verdict)})
    for stratum in doc["versions"]:
        colours = {m["name"]: _verdicts_for_plot(stratum, m) for m in metrics}
        for c in stratum["configurations"]:
            name = f"{c['label']}  ({stratum['label']})" if several else c["label"]
            values = {}
            for m in metrics:
                mm = c["metrics"][m["name"]]
                values[m["name"]] = (mm["estimate"], mm["ci_low"], mm["ci_high"],
                                     colours[m["name"]].get(c["label"], "not comparable"))
            rows.append(("\n".join(textwrap.wrap(name, LABEL_WRAP)) or name, values))
    n_metrics = max(1, len(metrics))
    label_lines = [name.count("\n") + 1 for name, _ in rows] or [1]
    label_chars = max((len(line) for name, _ in rows for line in name.split("\n")), default=10)
    panel = 5.0
    width = panel * n_metrics + 0.4 + INCHES_PER_CHAR * label_chars
    height = 1.4 + 0.3 * sum(label_lines) + 0.15 * len(rows)
    fig, axes = plt.subplots(1, n_metrics, figsize=(width, height), squeeze=False, sharey=True)
    y = list(range(len(rows)))[::-1]  # first row (the best) at the top
    title_chars = int(panel / 0.085)  # ~10 pt characters that fit over one panel
    ci = f"{doc['options']['confidence']:.0%} CI"
    for ax, m in zip(axes[0], metrics or [None], strict=True):
        if m is None:
            ax.text(0.5, 0.5, "no metric to plot", ha="center", va="center", transform=ax.transAxes)
            continue
        for yi, (_, values) in zip(y, rows, strict=True):
            est, low, high, verdict = values[m["name"]]
            if est is None:
                continue
            colour = VERDICT_COLOURS[verdict]
            if low is not None:
                ax.errorbar(est, yi, xerr=[[est - low], [high - est]], fmt="o", color=colour, capsize=4, lw=2)
            else:
                ax.plot(est, yi, "o", color=colour)
        title = f"{m['name']} ({m['better']} is better), {ci}"
        ax.set_title("\n".join(textwrap.wrap(title, title_chars)), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y)
    axes[0][0].set_yticklabels([name for name, _ in rows], fontsize=9)
    used = {v[3] for _, values in rows for v in values.values()}
    handles = [plt.Line2D([], [], marker="o", ls="", color=col, label="best (or tied)" if lab == "best" else lab)
               for lab, col in VERDICT_COLOURS.items() if lab in used]
    fig.legend(handles=handles, loc="lower center", ncol=max(1, len(handles)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1))  # leave the legend its 0.45 inch at the bottom
    return fig


# --- load tests ----------------------------------------------------------------------------------------------

LOAD_VERDICT_COLOURS = {"meets": "#2e8b57", "fails": "#c0392b", "undecided": "#d68910", None: "#1b6ca8"}


def _bounded(estimate: float | None, low: float | None, high: float | None, digits: int = 1) -> str:
    """'12.3 [10.1, 15.0]'; an end the data cannot bound shows as '?' (too few requests in the tail)."""
    if estimate is None:
        return "-"
    ends = ["?" if v is None else f"{v:.{digits}f}" for v in (low, high)]
    return f"{estimate:.{digits}f} [{ends[0]}, {ends[1]}]"


def _findings(doc: dict) -> list[str]:
    lines = []
    for f in doc["findings"]:
        lines.append(f"- **{f['severity']}** ({f['check_id']}): {f['message']} {f['hint']}".rstrip())
        # what it is about, as validate prints it (trial L: 'levels have a repeat that ...' named no level)
        lines += [f"  - {e}" for e in f["examples"]]
        lines += [f"  - ... and {f['examples_omitted']:,} more"] if f["examples_omitted"] else []
    return lines


def _load_markdown(doc: dict) -> str:
    """A load table's report: what was read, the findings, the level table with its verdicts and the capacity."""
    s, layout = doc["summary"], doc["inferred"]["layout"]
    levels = ", ".join(layout["configuration"]) or "none (all requests are one level)"
    labels = labels_note(layout)
    repeats = f" Repeats: {', '.join(layout['replicate'])}." if layout["replicate"] else ""
    lines = ["# Load test summary", "",
             f"Table `{s['table']}` in {', '.join(s['files'])}: {s['rows_inspected']:,} requests, "
             f"{len(doc['slo']['levels'])} level(s), {s['versions']} version(s).",
             f"Levels: {levels}{f' ({labels[2:]})' if labels else ''}.{repeats}", *_findings(doc)]
    return "\n".join(lines + load_section(doc["slo"], doc["options"]["confidence"]) + [""])


def load_section(slo: dict, confidence: float) -> list[str]:
    """Per level: rates, errors, tail latency with intervals, and the SLO verdicts; then the capacity."""
    clauses = [c["clause"] for c in slo["levels"][0]["clauses"]] if slo["levels"] else []
    title = f"## Load test: {slo['objective']}" if slo["objective"] else "## Load test"
    header = ["level", "requests", "offered / achieved per s", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    header += [f"{c}: share broken [95% CI]" for c in clauses] + (["verdict"] if clauses else [])
    rows = []
    for lv in slo["levels"]:
        lat = lv["latency_ms"]
        row = [lv["label"], f"{lv['requests']:,}", f"{fmt(lv['offered_rps'], 1)} / {fmt(lv['achieved_rps'], 1)}",
               f"{lv['errors']:,} ({lv['error_rate']:.1%})",
               *(_bounded(lat[k]["estimate"], lat[k]["low"], lat[k]["high"]) for k in ("p50", "p95", "p99")),
               fmt(lv["max_ms"], 1)]
        for c in lv["clauses"]:
            row.append(f"{c['share']:.2%} [{c['low']:.2%}, {c['high']:.2%}] of {c['allowed']:.2%} allowed: "
                       f"{c['verdict']}" + _to_decide(c.get("requests_to_decide"), lv["requests"]))
        if clauses:
            behind = " (client behind)" if client_limited(lv) else (
                " (client behind; from the send too)" if lv.get("from_send_verdict") == "fails" else "")
            row.append(f"**{lv['verdict']}**{behind}")
        rows.append(row)
    open_ends = set().union(*(_open_ends({p: (lv["latency_ms"][p]["low"], lv["latency_ms"][p]["high"])
                                          for p in ("p50", "p95", "p99") if lv["latency_ms"][p]["estimate"]
                                          is not None}) for lv in slo["levels"]))
    unbounded = f"{open_ends_note(open_ends, confidence, 'requests', clustered=False)} " if open_ends else ""
    lines = ["", title, "", *_table(header, "lrrrllll" + "l" * (len(header) - 8), rows), "",
             f"Intervals: {slo['interval']}; blocks of at least 1 s, twice the longest run of broken requests "
             f"(so a stall stays in one block). {unbounded}"
             "meets: the whole interval of the broken share is below what is allowed; fails: wholly above; "
             "undecided: it straddles the limit (measure longer: about as many requests in all as shown would "
             "decide, if the share stayed as it is). Percentiles are of the answered requests; every clause counts "
             "a failed request as broken."]
    if clauses:
        rated = [g for g in slo["series"] if g["rates"]]  # closed-loop levels offer no rate: no capacity
        several = len(rated) > 1
        if several:
            across = " or version" if slo.get("versions_differ") else ""
            lines += ["", f"Levels that differ in more than the rate (and how long they ran){across} are separate "
                          "series, each with its own capacity:"]
        for group in rated:
            lines += ["", _capacity_line(group, slo["objective"], group["label"] if several else None)]
    return lines + _series_comparison(slo.get("series_comparisons") or [], confidence)


def _series_comparison(compared: list[dict], confidence: float) -> list[str]:
    """Each series against the first at the rates both measured (load_compare.py)."""
    if not compared:
        return []
    clauses = [c["clause"] for c in compared[0]["clauses"]]
    percentiles = [p for p in ("p50", "p99") if any(p in c["latency_ms"] for c in compared)]
    ci = f"{confidence:.0%} CI"
    header = ["rate", "series", *(f"{c}: share broken, minus the reference's [{ci}]" for c in clauses),
              *(f"{p} ms, minus the reference's [{ci}]" for p in percentiles)]

    def cell(value: dict | None, pct: bool, behind: bool) -> str:
        if value is None:
            return "-"
        shown = (lambda x: f"{100 * x:+.2f}%") if pct else (lambda x: f"{x:+.3g}")
        bounds = f"[{shown(value['low'])}, {shown(value['high'])}]" if value["low"] is not None else "[?, ?]"
        said = "client behind: not compared" if behind else value["verdict"]
        return f"{shown(value['difference'])} {bounds} {said}"

    rows = [[f"{c['rate']:g}/s", c["series"], *(cell(x, True, c["client_behind"]) for x in c["clauses"]),
             *(cell(c["latency_ms"].get(p), False, c["client_behind"]) for p in percentiles)] for c in compared]
    reference = compared[0]["reference"]
    return ["", f"### Series compared with {reference}, at the rates both measured", "",
            *_table(header, "ll" + "l" * (len(header) - 2), rows), "",
            f"Each difference is the series minus {reference} at the same offered rate, with an interval combined "
            "from the two levels' own (MOVER, the square-and-add of Newcombe's interval for two proportions): "
            "higher / lower share broken, slower / faster, or no detectable difference when it spans 0. "
            f"Unadjusted for the {len(compared) * (len(clauses) + len(percentiles))} differences shown: with many, "
            "one may differ by chance. A '?' end of a percentile leaves no interval; a level the client fell behind "
            "on compares the clients, not the services."]


AT_THE_LIMIT = 100  # an undecided share whose deciding length is this many times the level's sits at the limit


def _to_decide(needed: int | None, requests: int) -> str:
    """' (~N requests would decide)'; trial W read '~65,821,576 requests would decide' (a 5.02 % share against
    5 % allowed) as advice: past AT_THE_LIMIT times the level, say that no practical length decides it."""
    if not needed:
        return ""
    if needed <= requests:  # trial Y3: "~2,177 requests would decide" on a level of 3,000
        return (f" (by count ~{needed:,} requests would decide, fewer than it has: its broken requests come in "
                "bursts, which the time-block interval counts; repeat the level rather than lengthen it)")
    if needed > AT_THE_LIMIT * requests:
        return (f" (the share sits at the limit: ~{needed:,} requests would decide, {needed / requests:,.0f}x this "
                "level; call it neither)")
    return f" (~{needed:,} requests would decide)"


def _capacity_line(group: dict, objective: str, series: str | None) -> str:
    best, bracket = group["highest_meeting"], group["bracket"] or {}
    head = f"**Capacity ({series}):**" if series else "**Capacity:**"
    limited = bracket.get("client_limited_at")
    if limited is not None and not bracket.get("fails_at"):  # the client stopped the measurement, not the service
        at_least = f"at least {best['rate']:g}/s (the highest tested rate that meets {objective}, {best['label']})" \
            if best else f"not measured: no rate below {limited:g}/s meets {objective}"
        return (f"{head} {at_least}; at {limited:g}/s the client fell behind its schedule, so from there on these "
                "levels cannot tell the service's limit from the client's (a client on cores or a machine of its own "
                "can measure them; the slo-client-behind finding gives each level's lag and latency from the send).")
    if best:
        above = f", and fails at {bracket['fails_at']:g}/s" if bracket.get("fails_at") else \
            ": no tested rate fails (test higher rates to find the limit)"
        below = [r for r in group.get("undecided_rates", []) if r < best["rate"]]
        between = [r for r in group.get("undecided_rates", []) if r > best["rate"]
                   and (not bracket.get("fails_at") or r < bracket["fails_at"])]
        caveat = (f" Undecided below it: {', '.join(f'{r:g}/s' for r in below)}; if one of them fails when "
                  "measured longer, the capacity is lower." if below else "") + \
                 (f" Undecided above it: {', '.join(f'{r:g}/s' for r in between)}." if between else "")
        return (f"{head} the highest tested rate that meets {objective} is {best['rate']:g}/s ({best['label']})"
                f"{above}.{caveat}")
    if bracket.get("fails_at"):
        return f"{head} no tested rate meets {objective} (the lowest tested rate, {bracket['fails_at']:g}/s, " \
               "already fails)."
    return f"{head} no tested rate meets {objective} yet: none fails either (undecided levels: measure longer)."


def panel_title(label: str, verdict: str | None, repeats: int) -> str:
    overlaid = f" ({repeats} repeats overlaid, each from 0 s)" if repeats > 1 else ""
    return label + (f": {verdict}" if verdict else "") + overlaid


def plot_load(doc: dict, series: list, path: Path) -> None:
    """Latency over the time each request was due, one panel per level, with the SLO thresholds: periodic
    stalls show as regular spikes. Failed requests are marked at the top of their panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    slo = doc["slo"]
    verdicts = {lv["label"]: lv["verdict"] for lv in slo["levels"]}
    fig, axes = plt.subplots(len(series), 1, figsize=(9, 1.9 * len(series) + 0.6), squeeze=False, sharex=False)
    try:
        for ax, s in zip(axes[:, 0], series, strict=True):
            due, latency, failed = np.asarray(s.due_s), np.asarray(s.latency_ms), np.asarray(s.failed)
            colour = LOAD_VERDICT_COLOURS.get(verdicts.get(s.label), "#1b6ca8")
            replicate = np.asarray([str(r) for r in s.replicate])
            repeats = list(dict.fromkeys(replicate))
            # repeats share one time axis (each starts at 0 s): one shade each, or their stalls read as one period
            for shade, rep in enumerate(repeats):
                keep = ~failed & (replicate == rep)
                ax.plot(due[keep], latency[keep], ".", ms=2, color=colour, alpha=1.0 - 0.5 * shade / len(repeats),
                        label=f"repeat {shade + 1}" if len(repeats) > 1 else None)
            if failed.any():
                top = np.nanmax(latency[~failed]) if (~failed).any() else 1.0
                ax.plot(due[failed], np.full(int(failed.sum()), top), "x", ms=3, color="#c0392b", label="failed")
            for t in slo["thresholds_ms"]:
                ax.axhline(t, color="#555555", lw=0.8, ls="--")
            ax.set_yscale("log")
            verdict = verdicts.get(s.label)
            ax.set_title(panel_title(s.label, verdict, len(repeats)), fontsize=9, loc="left")
            ax.set_ylabel("latency ms", fontsize=8)
        axes[-1, 0].set_xlabel("time each request was due (s, within its level)", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
