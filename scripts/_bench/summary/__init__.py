"""export_summary.py's own parts: what to measure (plan.py), one pass over the rows into partitions (scan.py),
pairs, families, intervals and detectable differences (compute.py), the report as plain data (model.py),
Markdown and PNG (render.py), the CSV tables (tables.py), --pairs CONFIG (reference.py), --save OUT.db (save.py),
--within, --pool and --unit (design.py), --slo per configuration (slo.py) and per load level (load.py), and
the findings (findings.py)."""
