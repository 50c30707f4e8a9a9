"""export_summary.py's own parts: what to measure (plan.py), one pass over the rows into partitions (scan.py),
pairs, families, intervals and detectable differences (compute.py), the report as plain data (model.py),
Markdown/CSV/PNG (render.py), --pairs CONFIG (reference.py) and --save OUT.db (save.py)."""
