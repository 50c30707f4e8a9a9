# Sourced by tests/run.sh and demo.sh: create .venv with a supported Python (3.10-3.12: xetrack 0.7.0 pins
# numpy<2, which has no wheels for 3.13+) and export PY, its interpreter.
pick_python() {
  for candidate in python3.11 python3.12 python3.10 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 13)))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: need Python 3.10, 3.11 or 3.12 (xetrack 0.7.0 requires numpy<2)" >&2
  return 1
}
if [ ! -x .venv/bin/python ]; then
  "$(pick_python)" -m venv .venv
fi
PY="$PWD/.venv/bin/python"
export PY
