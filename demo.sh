#!/usr/bin/env bash
# The main job, end to end, on embedded data: install, benchmark three scikit-learn models with repeated
# stratified k-fold (paired folds, cached), validate the database, and summarise it with paired comparisons
# and a plot. Uses .venv (created and installed on first run) unless BENCH_PYTHON names an interpreter that
# already has the project's dependencies. Output goes to ./demo/ (DEMO_DIR to change it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
if [ -n "${BENCH_PYTHON:-}" ]; then
  PY="$BENCH_PYTHON"
else
  (cd "$here" && source tests/python_env.sh && "$PY" -m pip install --quiet -e .)
  PY="$here/.venv/bin/python"
fi
"$PY" "$here/scripts/setup_duckdb.py" > /dev/null
out="${DEMO_DIR:-demo}"
mkdir -p "$out" && cd "$out"
echo "== 1. benchmark (a second run computes nothing: it resumes from the database and the cache)"
"$PY" "$here/assets/sklearn_benchmark_template.py" --db sklearn_benchmark.db 2>/dev/null | sed -n '/^model /,/^$/p'
echo "== 2. validate"
"$PY" "$here/scripts/validate_benchmark.py" sklearn_benchmark.db predictions
echo "== 3. summarise (paired on the same examples; plot in $out/summary.png)"
"$PY" "$here/scripts/export_summary.py" sklearn_benchmark.db predictions --config-cols model --plot summary.png
