"""validate_benchmark.py's own parts, on top of the shared layout: two aggregate passes (passes.py), the
checks with their stable ids and planted-defect fixtures (rules.py), and --snapshot (snapshot.py)."""
