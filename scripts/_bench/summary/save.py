"""export_summary --save OUT.db: the summary as two plain SQLite tables, queryable with SQL.

- `summary`: one row per (version, configuration, metric): items, inputs x replicates, estimate, interval,
  method, failures, versions; and the configuration's latency percentiles with their intervals, tokens, cost,
  and its --slo verdict (slo_verdict; slo_clauses: each clause's broken share and interval, as JSON).
- `comparisons`: one row per (version, pair, metric): shared items, difference, interval, test, p, adjusted p,
  family, minimum detectable difference, verdict.
Both carry `track_id` (a content hash of this summary's numbers) and `timestamp` (when they were last saved),
the two columns xetrack's Reader sorts and filters by, so `Reader(OUT, table='summary').to_df()` reads them.

Both also carry `analysis`: what was compared (configuration columns, item columns), so two analyses of one
benchmark (by model and prompt; by run) saved into one file do not hide each other.

Saving is idempotent: each row is keyed by a hash of its values. Saving the same numbers again adds no row
(only `timestamp` moves to now); changed numbers add rows, and the latest save of each benchmark and analysis
wins:

    SELECT * FROM summary s WHERE track_id = (SELECT track_id FROM summary t WHERE t.source = s.source
        AND t.source_table = s.source_table AND t.analysis IS s.analysis ORDER BY timestamp DESC LIMIT 1)

The benchmark databases are never written: OUT is refused when it is one of them (the CLI contract).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

SUMMARY_COLUMNS = {
    "source": "TEXT", "source_table": "TEXT", "analysis": "TEXT", "version": "TEXT", "versions": "TEXT",
    "rank": "INTEGER", "configuration": "TEXT", "parameters": "TEXT", "metric": "TEXT", "better": "TEXT",
    "n": "INTEGER", "items": "INTEGER", "inputs": "INTEGER", "replicates": "INTEGER", "estimate": "REAL",
    "ci_low": "REAL", "ci_high": "REAL", "method": "TEXT", "failed": "INTEGER",
    # per configuration (the same on each of its metric rows): latency percentiles in their unit, totals
    "latency_column": "TEXT", "latency_unit": "TEXT", "latency_p50": "REAL", "latency_p95": "REAL",
    "latency_p99": "REAL", "tokens": "REAL", "cost": "REAL",
    # the percentiles' intervals, whether they are over each input's median/min/mean, and --slo's verdict with
    # each clause's broken share and interval (JSON) on a benchmark table
    "latency_p50_ci_low": "REAL", "latency_p50_ci_high": "REAL", "latency_p95_ci_low": "REAL",
    "latency_p95_ci_high": "REAL", "latency_p99_ci_low": "REAL", "latency_p99_ci_high": "REAL",
    "latency_per_input": "TEXT", "slo_verdict": "TEXT", "slo_clauses": "TEXT",
}
COMPARISON_COLUMNS = {
    "source": "TEXT", "source_table": "TEXT", "analysis": "TEXT", "version": "TEXT", "metric": "TEXT",
    "configuration": "TEXT", "reference": "TEXT", "shared_items": "INTEGER", "only_reference": "INTEGER",
    "only_other": "INTEGER", "difference": "REAL", "ci_low": "REAL", "ci_high": "REAL", "test": "TEXT",
    "p_value": "REAL", "p_adjusted": "REAL", "adjust": "TEXT", "family": "TEXT", "family_size": "INTEGER",
    "min_detectable_difference": "REAL", "mdd_alpha": "REAL", "verdict": "TEXT",
}


def analysis_of(doc: dict) -> str:
    """What one saved summary compared, e.g. 'configuration: model, prompt; item: ticket_id', with the row
    filters, --within, and a failure policy or unit other than the default, when given."""
    layout = doc["inferred"]["layout"]
    parts = [f"configuration: {', '.join(layout['configuration']) or '-'}",
             f"item: {', '.join(layout['item_key']) or '-'}"]
    if doc["summary"].get("filters"):
        parts.append(f"filter: {' '.join(doc['summary']['filters'])}")
    if doc["options"].get("failures", "exclude") != "exclude":
        parts.append(f"failures: {doc['options']['failures']}")
    if doc["options"].get("within"):
        parts.append(f"within: {', '.join(doc['options']['within'])}")
    if doc["options"].get("unit", "replicate") != "replicate" and layout["cluster"]:
        parts.append(f"unit: {doc['options']['unit']}")
    return "; ".join(parts)


def summary_rows(doc: dict) -> list[dict]:
    source, table = ", ".join(doc["summary"]["files"]), doc["summary"]["table"]
    rows = []
    for stratum in doc["versions"]:
        for metric in doc["inferred"]["measures"]["metrics"]:
            for c in stratum["configurations"]:
                m = c["metrics"][metric["name"]]
                rows.append({"source": source, "source_table": table, "analysis": analysis_of(doc),
                             "version": stratum["label"],
                             "versions": json.dumps(stratum["version"], sort_keys=True, default=str),
                             "rank": c["rank"], "configuration": c["label"],
                             "parameters": json.dumps(c["parameters"] or c["configuration"], sort_keys=True,
                                                      default=str),
                             "metric": metric["name"], "better": metric["better"], "n": m["n"],
                             "items": c["items"], "inputs": c["inputs"], "replicates": c["replicates"],
                             "estimate": m["estimate"], "ci_low": m["ci_low"], "ci_high": m["ci_high"],
                             "method": m["interval"], "failed": c["failed"], **_latency_and_cost(c)})
    return rows


def _latency_and_cost(c: dict) -> dict:
    lat, slo = c.get("latency") or {}, c.get("slo")
    bounds = {f"latency_{k}_ci_{end}": (lat.get(f"{k}_ci") or [None, None])[i]
              for k in ("p50", "p95", "p99") for i, end in enumerate(("low", "high"))}
    return {"latency_column": lat.get("column"), "latency_unit": lat.get("unit"), "latency_p50": lat.get("p50"),
            "latency_p95": lat.get("p95"), "latency_p99": lat.get("p99"), "tokens": c.get("tokens"),
            "cost": c.get("cost"), **bounds, "latency_per_input": lat.get("per_input"),
            "slo_verdict": slo["verdict"] if slo else None,
            "slo_clauses": json.dumps(slo["clauses"], sort_keys=True) if slo else None}


def comparison_rows(doc: dict) -> list[dict]:
    source, table = ", ".join(doc["summary"]["files"]), doc["summary"]["table"]
    rows = []
    for stratum in doc["versions"]:
        for c in stratum["comparisons"]:
            mdd = c.get("detectable") or {}
            rows.append({"source": source, "source_table": table, "analysis": analysis_of(doc),
                         "version": stratum["label"], "metric": c["metric"], "configuration": c["configuration"],
                         "reference": c["reference"],
                         "shared_items": c["shared_items"], "only_reference": c["only_reference"],
                         "only_other": c["only_other"], "difference": c["delta"], "ci_low": c["ci_low"],
                         "ci_high": c["ci_high"], "test": c["test"], "p_value": c["p_value"],
                         "p_adjusted": c["p_adjusted"], "adjust": doc["options"]["adjust"],
                         "family": c["family"], "family_size": c["family_size"],
                         "min_detectable_difference": mdd.get("difference"), "mdd_alpha": mdd.get("alpha"),
                         "verdict": c["verdict"]})
    return rows


def save(doc: dict, out: Path) -> dict[str, int]:
    """Write the summary's tables into `out` (created if missing); return the rows added per table."""
    tables = {"summary": (SUMMARY_COLUMNS, summary_rows(doc)),
              "comparisons": (COMPARISON_COLUMNS, comparison_rows(doc))}
    content = hashlib.sha256(json.dumps({t: rows for t, (_, rows) in tables.items()}, sort_keys=True,
                                        default=str).encode()).hexdigest()
    track_id = f"summary-{content[:12]}"
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    added = {}
    con = sqlite3.connect(out)
    try:
        with con:
            for name, (columns, rows) in tables.items():
                added[name] = _upsert(con, name, columns, rows, track_id, now)
    finally:
        con.close()
    return added


def _upsert(con: sqlite3.Connection, table: str, columns: dict[str, str], rows: list[dict], track_id: str,
            now: str) -> int:
    names = list(columns)
    ddl = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (track_id TEXT, timestamp TEXT, {ddl}, '
                "row_hash TEXT PRIMARY KEY)")
    present = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
    for c, t in columns.items():  # a file saved by an earlier version lacks newer columns (`analysis`)
        if c not in present:
            con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{c}" {t}')
    before = con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    placeholders = ", ".join("?" * (len(names) + 3))
    sql = (f'INSERT INTO "{table}" (track_id, timestamp, {", ".join(chr(34) + c + chr(34) for c in names)}, '
           f"row_hash) VALUES ({placeholders}) "
           "ON CONFLICT(row_hash) DO UPDATE SET timestamp = excluded.timestamp, track_id = excluded.track_id")
    con.executemany(sql, [(track_id, now, *(r[c] for c in names), _row_hash(r)) for r in rows])
    return con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] - before


def _row_hash(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
