"""export_summary.py's own parts: what to measure (plan.py), one pass over the rows into partitions (scan.py),
intervals and comparisons (compute.py), the report as plain data (model.py), Markdown/CSV/PNG (render.py),
and --reference (reference.py)."""
