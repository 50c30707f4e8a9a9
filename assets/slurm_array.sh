#!/usr/bin/env bash
# One shard of a benchmark per SLURM array task, written on the node's own disk and copied back when done.
#   sbatch --array=1-8 slurm_array.sh python sklearn_benchmark_template.py --limit 150
# Task K of N (N = the array's size, ids 1..N) runs the command with `--shard K/N --db <local file>
# --cache-dir <local folder>`: SQLite (the database and the cache) is unsafe on a network filesystem, so both
# live in $TMPDIR, and the finished file is copied to $BENCH_OUT (default: ./shards of the submit folder).
# A task run again (requeued, or resubmitted to retry failed units) starts from its copied-back file, on any
# node, so it resumes instead of repeating work. Then, on the login node:
#   python <skill>/scripts/validate_benchmark.py shards/*.shard-*-of-8.db predictions
#SBATCH --job-name=bench-shard
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
#SBATCH --output=shard-%A_%a.log
set -euo pipefail
k=${SLURM_ARRAY_TASK_ID:?"run as an array job: sbatch --array=1-N $0 COMMAND ..."}
n=${SLURM_ARRAY_TASK_COUNT:?"run as an array job: sbatch --array=1-N $0 COMMAND ..."}
(( $# > 0 )) || { echo "slurm_array.sh: error: no command: sbatch --array=1-N $0 COMMAND ..." >&2; exit 2; }

script=benchmark.py  # the database is named after the template: sklearn_benchmark.shard-K-of-N.db
for word in "$@"; do [[ $word == *.py ]] && script=$word && break; done
name=$(basename "$script" .py)
name=${name%_template}
out=${BENCH_OUT:-${SLURM_SUBMIT_DIR:-$PWD}/shards}
local_dir=${TMPDIR:-/tmp}/bench-${SLURM_ARRAY_JOB_ID:-0}-$k
file=$name.shard-$k-of-$n.db
mkdir -p "$out" "$local_dir"
[[ -f $out/$file && ! -f $local_dir/$file ]] && cp "$out/$file" "$local_dir/$file"  # resume on any node

status=0
"$@" --shard "$k/$n" --db "$local_dir/$file" --cache-dir "$local_dir/${name}_cache" || status=$?
if [[ -f $local_dir/$file ]]; then  # exit 1 = some units failed: keep what succeeded, a rerun retries the rest
  cp "$local_dir/$file" "$out/$file.part" && mv "$out/$file.part" "$out/$file"  # never half a file in $out
fi
exit "$status"
