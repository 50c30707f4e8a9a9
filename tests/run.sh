#!/usr/bin/env bash
# The one test command (README and CI): make a virtual environment, install the project with its dev
# extra, install DuckDB's sqlite extension from its wheel (offline), lint, and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/python_env.sh
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet -e ".[dev]"
"$PY" scripts/setup_duckdb.py
"$PY" -m ruff check .
"$PY" -m pytest "$@"
