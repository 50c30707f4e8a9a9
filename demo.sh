#!/usr/bin/env bash
# The main job, end to end, on embedded data: install, run a benchmark, validate it, summarise it.
# Uses .venv (created and installed on first run) unless BENCH_PYTHON names an interpreter that already
# has the project's dependencies.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
if [ -n "${BENCH_PYTHON:-}" ]; then
  PY="$BENCH_PYTHON"
else
  (cd "$here" && source tests/python_env.sh && "$PY" -m pip install --quiet -e .)
  PY="$here/.venv/bin/python"
fi
"$PY" "$here/scripts/setup_duckdb.py"
echo "demo: benchmark templates arrive in the next issues; the foundation is installed and DuckDB works offline."
