"""--shard K/N in the sklearn and LLM templates, the N shards on a real Dask cluster, and the SLURM job array.

"The union equals one unsharded run": the same (configuration, input, replicate, fold) keys with equal
outcomes, none twice, and the shard files validate clean as one benchmark. Every check here compares the
shards against a real unsharded run of the same command; track ids and timestamps are expected to differ.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from helpers import ROOT, random_hash_seed_env, run_python
from llm_standin_server import StandinServer
from test_llm_template import LABELS, N_CONFIGS, N_ITEMS
from xetrack_fixtures import read_rows

SKLEARN = ROOT / "assets" / "sklearn_benchmark_template.py"
LLM = ROOT / "assets" / "llm_finetuning_template.py"
RUN_SHARDS = ROOT / "assets" / "run_shards.py"
VALIDATE = ROOT / "scripts" / "validate_benchmark.py"
# 2 models x 3 seeds x 3 folds = 18 units; the 300-tree forest makes a shard last seconds, long enough to kill
SKLEARN_ARGS = ["--limit", "90", "--seeds", "0", "1", "2", "--folds", "3", "--models", "logreg",
                "forest:n_estimators=300", "--no-model-assets"]
# what each table's row is about (its key) and what it measured; bookkeeping and provenance are left out
SKLEARN_TABLES = {
    "predictions": ("config_id, input_id, seed, fold", "prediction, probability, ground_truth, correct, nll, brier"),
    "scores": ("config_id, seed, fold", "accuracy, log_loss, train_accuracy, n_train, n_test, train_inputs_hash"),
    "fold_inputs": ("seed, fold, input_id, split", "dataset, subsample, k_folds"),
}
LLM_TABLE = ("config_id, input_id", "prediction, answer, parse_ok, correct, correct_strict, prompt_tokens, "
                                    "completion_tokens, cost_usd, model, prompt_name")


def union(paths: list[Path], sql: str) -> list[tuple]:
    """The rows of every file, together, sorted: what the scripts see when given all the shard files."""
    return sorted(row for path in paths for row in read_rows(path, sql))


def keys_and_outcomes(paths: list[Path], table: str, key: str, outcome: str) -> tuple[list, list]:
    rows = union(paths, f"SELECT {key}, {outcome} FROM {table}")  # failed rows too: none may differ
    width = len(key.split(","))
    return [r[:width] for r in rows], rows


def assert_union_equals(reference: Path, shards: list[Path], tables: dict) -> None:
    for table, (key, outcome) in tables.items():
        keys, rows = keys_and_outcomes(shards, table, key, outcome)
        expected_keys, expected_rows = keys_and_outcomes([reference], table, key, outcome)
        assert [k for k, n in Counter(keys).items() if n > 1] == [], f"{table}: a key in two shards or twice"
        assert keys == expected_keys and len(keys) > 0, table
        assert rows == expected_rows, f"{table}: the same keys with other outcomes"


def assert_validates_as_one(shards: list[Path], tables) -> None:
    for table in tables:
        proc = run_python(VALIDATE, *shards, table, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def run_template(template: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    proc = run_python(template, *args, cwd=cwd, env=random_hash_seed_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def sklearn_reference(tmp_path_factory) -> Path:
    """One unsharded run: what every sharded way of running the same command must add up to."""
    folder = tmp_path_factory.mktemp("unsharded")
    run_template(SKLEARN, folder, *SKLEARN_ARGS)
    return folder / "sklearn_benchmark.db"


# ---- the command line ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("template", [SKLEARN, LLM], ids=["sklearn", "llm"])
@pytest.mark.parametrize("shard", ["3/2", "x", "0/4"])
def test_a_bad_shard_is_one_usage_line_exit_2_and_writes_nothing(tmp_path, template, shard):
    proc = run_python(template, "--shard", shard, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == f"{template.name}: error: argument --shard: expected K/N with 1 <= K <= N (e.g. 1/4), " \
        f"got {shard!r}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["2"], "no command: give the template's command line after --"),
    (["0", "--", "python", "t.py"], "N and --workers must be at least 1"),
    (["2", "--", "python", "t.py", "--db", "x.db"], "the command must not set --shard, --db or --cache-dir"),
    (["2", "--db", "dir/x.db", "--", "python", "t.py"], "--db must be a file name ending in .db"),
    (["2", "--cache-of", "x_cache", "--", "python", "t.py"], "--cache-of must be a file name ending in .db"),
    (["two", "--", "python", "t.py"], "argument N: invalid int value: 'two'"),
    (["2", "--metric", "mae:down", "--", "python", "t.py"], "--metric must be COL, COL:higher or COL:lower"),
])
def test_run_shards_bad_input_is_one_line_and_exit_2(tmp_path, argv, message):
    proc = run_python(RUN_SHARDS, *argv, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("run_shards.py: error: ") and message in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_run_shards_names_the_files_after_the_templates_own_db_setting(tmp_path):
    import run_shards  # assets/ is on the path (conftest.py)

    edited = tmp_path / "sklearn_benchmark_template.py"
    edited.write_text('URL = None\nDB = "runs/wine_benchmark.db"  # the EDIT block\nDB_OTHER = "x.db"\n')
    bare = tmp_path / "bench.py"
    bare.write_text("print('no DB setting')\n")
    assert run_shards.template_db(edited) == "wine_benchmark.db"
    assert run_shards.template_db(bare) is None and run_shards.template_db(tmp_path / "missing.py") is None
    assert run_shards.parse_args(["2", "--", "python", str(edited)]).db == "wine_benchmark.db"
    assert run_shards.parse_args(["2", "--", "python", str(bare)]).db == "bench.db"
    # trial Z: the LLM and function templates set it in one tuple assignment, which was not read
    for template, db in (("llm_finetuning_template.py", "llm_bench.db"), ("function_benchmark_template.py",
                                                                          "function_bench.db")):
        assert run_shards.template_db(ROOT / "assets" / template) == db


def test_for_a_command_that_prints_no_next_steps_the_printed_comparison_names_the_metric_or_asks_for_one(tmp_path):
    import run_shards

    args = ([], tmp_path / "local", tmp_path / "out", "runs.db", 3, "results")
    named = run_shards.next_steps(*args, ["mae:lower", "steps"])
    (compare,) = [line for line in named.splitlines() if "export_summary.py" in line]
    assert compare.endswith("runs.shard-*-of-3.db results --metric mae:lower --metric steps --pairs all"), compare
    assert "name the metric" not in named
    unnamed = run_shards.next_steps(*args)
    (compare,) = [line for line in unnamed.splitlines() if "export_summary.py" in line]
    assert compare.endswith("runs.shard-*-of-3.db results --pairs all"), compare
    assert "name the metric with --metric COL:higher (or :lower)" in unnamed


# ---- --shard: two shards add up to the unsharded run --------------------------------------------------------
@pytest.mark.slow
def test_two_sklearn_shards_add_up_to_the_unsharded_run_and_validate_as_one(tmp_path, sklearn_reference):
    outputs = [run_template(SKLEARN, tmp_path, *SKLEARN_ARGS, "--shard", f"{k}/2").stdout for k in (1, 2)]
    shards = sorted(tmp_path.glob("sklearn_benchmark.shard-*-of-2.db"))
    assert [p.name for p in shards] == ["sklearn_benchmark.shard-1-of-2.db", "sklearn_benchmark.shard-2-of-2.db"]
    assert_union_equals(sklearn_reference, shards, SKLEARN_TABLES)
    assert_validates_as_one(shards, SKLEARN_TABLES)
    # each shard did a real part of the work, and says so on every row
    for k, path in enumerate(shards, start=1):
        assert read_rows(path, "SELECT DISTINCT shard FROM predictions") == [(f"{k}/2",)]
        assert 0 < read_rows(path, "SELECT COUNT(*) FROM scores")[0][0] < 18
    # the printed next step reads every shard (the shell expands the pattern) and runs as printed
    command = next(line.strip() for line in outputs[0].splitlines() if "validate_benchmark.py" in line)
    assert "sklearn_benchmark.shard-*-of-2.db predictions" in command
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and f"{2 * 3 * 90} rows" in proc.stdout, proc.stdout + proc.stderr
    # shards on one machine share the cache: an unsharded run in the same folder now fits nothing
    again = run_template(SKLEARN, tmp_path, *SKLEARN_ARGS)
    assert read_rows(tmp_path / "sklearn_benchmark.db", "SELECT COUNT(*), SUM(cache = '') FROM scores") == [(18, 0)]
    assert "Database:" in again.stdout


@pytest.mark.slow
def test_two_llm_shards_ask_each_pair_once_and_add_up_to_the_unsharded_run(tmp_path):
    with StandinServer(dict(LABELS)) as server:
        run_template(LLM, tmp_path, "--base-url", server.base_url, "--db", "full.db", "--cache-dir", "full_cache")
        unsharded_answers = server.count(200)
        for k in (1, 2):  # a cache per shard, as on two machines: every answer is asked for, none twice
            run_template(LLM, tmp_path, "--base-url", server.base_url, "--shard", f"{k}/2", "--cache-dir", f"c{k}")
        sharded_answers = server.count(200) - unsharded_answers
    assert unsharded_answers == sharded_answers == N_CONFIGS * N_ITEMS
    shards = sorted(tmp_path.glob("llm_bench.shard-*-of-2.db"))
    assert len(shards) == 2
    assert_union_equals(tmp_path / "full.db", shards, {"predictions": LLM_TABLE})
    assert_validates_as_one(shards, ["predictions"])
    # each shard's metrics count only its own pairs: nothing is reported unanswered
    per_shard = [read_rows(p, "SELECT SUM(n_answered), SUM(n_unanswered) FROM metrics")[0] for p in shards]
    assert sum(a for a, _ in per_shard) == N_CONFIGS * N_ITEMS and all(u == 0 for _, u in per_shard)


# ---- Dask: a real LocalCluster, two worker processes --------------------------------------------------------
def run_shards(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_python(RUN_SHARDS, *args, cwd=cwd, env=random_hash_seed_env(), timeout=timeout)


@pytest.mark.slow
def test_run_shards_on_a_local_dask_cluster_gathers_files_that_add_up_to_the_unsharded_run(
        tmp_path, sklearn_reference):
    proc = run_shards(tmp_path, "2", "--out", "gathered", "--local-dir", str(tmp_path / "worker-disk"), "--",
                      "python", str(SKLEARN), *SKLEARN_ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LocalCluster of 2 workers: ready in" in proc.stderr
    shards = sorted((tmp_path / "gathered").glob("*.db"))
    assert [p.name for p in shards] == ["sklearn_benchmark.shard-1-of-2.db", "sklearn_benchmark.shard-2-of-2.db"]
    assert_union_equals(sklearn_reference, shards, SKLEARN_TABLES)
    assert_validates_as_one(shards, SKLEARN_TABLES)
    for table in SKLEARN_TABLES:  # what a user runs to see it: validate --same-as the unsharded run
        same = run_python(VALIDATE, *shards, table, "--same-as", sklearn_reference, timeout=300)
        assert same.returncode == 0 and f"compared with {sklearn_reference}: " in same.stdout, same.stdout[-2000:]
    alone = run_python(VALIDATE, shards[0], "scores", "--same-as", sklearn_reference, timeout=300)
    assert alone.returncode == 1 and "[same-as-reference]" in alone.stdout and "only in the reference" in alone.stdout
    # the template's own next commands, pointed at the gathered files (none at the worker's disk), run as printed
    assert "validate_benchmark.py gathered/sklearn_benchmark.shard-*-of-2.db predictions" in proc.stdout
    assert "--save gathered/sklearn_benchmark_results.db" in proc.stdout and "worker-disk" not in proc.stdout
    assert proc.stderr.count("units (model x seed x fold)") == 2  # each shard's own report, on stderr
    assert re.search(r"^2 shards on 2 workers: [\d.]+ s in all; since submission: 1/2 [\d.]+ s, 2/2 [\d.]+ s$",
                     proc.stderr, re.M), proc.stderr[-2000:]
    validate = next(line.strip() for line in proc.stdout.splitlines() if "validate_benchmark.py" in line)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    checked = subprocess.run(["bash", "-c", validate], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    # run again: every shard resumes from its worker-local file and adds nothing
    again = run_shards(tmp_path, "2", "--out", "gathered", "--local-dir", str(tmp_path / "worker-disk"), "--",
                       "python", str(SKLEARN), *SKLEARN_ARGS)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from the copy gathered" not in again.stderr  # the worker has the file: no bytes sent
    assert sum(read_rows(p, "SELECT COUNT(*) FROM scores")[0][0] for p in shards) == 18
    assert_union_equals(sklearn_reference, shards, SKLEARN_TABLES)
    # again on "new machines" (an empty worker folder: Dask placed the shards where their files are not): each
    # resumes from the copy gathered last time and computes nothing
    moved = run_shards(tmp_path, "2", "--out", "gathered", "--local-dir", str(tmp_path / "other-disk"), "--",
                       "python", str(SKLEARN), *SKLEARN_ARGS)
    assert moved.returncode == 0, moved.stderr[-3000:]
    assert moved.stderr.count("resumed from the copy gathered last time") == 2, moved.stderr[-3000:]
    todo = re.findall(r"units \(model x seed x fold\) in shard \d/2: \d+ already in .*?, (\d+) to run", moved.stderr)
    assert todo == ["0", "0"], moved.stderr[-3000:]
    assert sum(read_rows(p, "SELECT COUNT(*) FROM scores")[0][0] for p in shards) == 18
    assert_union_equals(sklearn_reference, shards, SKLEARN_TABLES)
    # the cache proof: new files, the first run's cache; every unit is replayed, and analyze says so
    proof = run_shards(tmp_path, "2", "--out", "proof", "--db", "proof.db", "--cache-of", "sklearn_benchmark.db",
                       "--local-dir", str(tmp_path / "worker-disk"), "--", "python", str(SKLEARN), *SKLEARN_ARGS)
    assert proof.returncode == 0, proof.stderr[-3000:]
    replayed = sorted((tmp_path / "proof").glob("proof.shard-*-of-2.db"))
    counts = [read_rows(p, "SELECT COUNT(*), SUM(cache <> '') FROM predictions")[0] for p in replayed]
    assert len(replayed) == 2 and all(n == r > 0 for n, r in counts), counts
    analyzed = run_python(ROOT / "scripts" / "analyze_cache_hits.py", *shards, *replayed, "predictions", timeout=300)
    assert analyzed.returncode == 0 and "540 computed, 540 replayed from the cache" in analyzed.stdout, \
        analyzed.stdout[-2000:]


@pytest.mark.slow
def test_a_rehearsed_crash_under_run_shards_fails_every_shard_and_the_same_command_resumes_them(
        tmp_path, sklearn_reference):
    """BENCHKIT_CRASH_AFTER reaches the templates through the LocalCluster's workers (execution.md, "Rehearse a
    crash"): each shard dies after 2 units, says so, and the run exits 1; the same command without it resumes."""
    args = ["2", "--out", "gathered", "--local-dir", str(tmp_path / "disk"), "--", "python", str(SKLEARN),
            *SKLEARN_ARGS]
    crashed = run_python(RUN_SHARDS, *args, cwd=tmp_path, env=random_hash_seed_env(BENCHKIT_CRASH_AFTER="2"),
                         timeout=300)
    assert crashed.returncode == 1, crashed.stderr[-3000:]
    assert len(re.findall(r"^shard \d/2: FAILED .*\n(?:  \|.*\n)*  exit -9: benchkit: BENCHKIT_CRASH_AFTER=2: "
                          r"killing this process now", crashed.stderr, re.M)) == 2, crashed.stderr[-3000:]
    resumed = run_python(RUN_SHARDS, *args, cwd=tmp_path, env=random_hash_seed_env(), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.findall(r"in shard \d/2: (\d+) already in", resumed.stderr) == ["2", "2"]
    shards = sorted((tmp_path / "gathered").glob("*.db"))
    assert_union_equals(sklearn_reference, shards, SKLEARN_TABLES)  # nothing lost, nothing twice
    assert_validates_as_one(shards, SKLEARN_TABLES)


def template_of_shard(shard: str, local_dir: Path, deadline: float) -> psutil.Process:
    """The template process running `shard` for run_shards.py, once it has started."""
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if shard in cmdline and any(str(local_dir) in word for word in cmdline):
                return proc
        time.sleep(0.05)
    raise AssertionError(f"shard {shard} never started")


def scored(db: Path) -> int:
    try:
        return read_rows(db, "SELECT COUNT(*) FROM scores")[0][0]
    except sqlite3.Error:  # not created yet, or locked for a moment by the writer
        return 0


@pytest.fixture
def environ_restored():
    """Starting a LocalCluster sets PYTHONHASHSEED=6640, OMP_NUM_THREADS=1 ... in this process's environment
    (for the workers it spawns) and leaves them: every later subprocess of the suite would inherit them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.slow
def test_a_worker_killed_mid_shard_is_rerun_by_dask_and_resumes_without_duplicates(tmp_path, sklearn_reference,
                                                                                    environ_restored):
    from dask.distributed import LocalCluster

    local = tmp_path / "worker-disk"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runner = subprocess.Popen(
            [sys.executable, str(RUN_SHARDS), "2", "--scheduler", cluster.scheduler_address, "--out", "gathered",
             "--local-dir", str(local), "--", "python", str(SKLEARN), *SKLEARN_ARGS],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=random_hash_seed_env())
        deadline = time.monotonic() + 120
        template = template_of_shard("1/2", local, deadline)
        worker = template.parent()
        db = local / "sklearn_benchmark.shard-1-of-2.db"
        while scored(db) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)  # the worker process, and with it the template it started
        at_kill = scored(db)
        template.wait(timeout=30)
        out, err = runner.communicate(timeout=240)
    assert runner.returncode == 0, err[-3000:]
    shards = sorted((tmp_path / "gathered").glob("*.db"))
    final = read_rows(shards[0], "SELECT COUNT(*), COUNT(DISTINCT track_id) FROM scores")[0]
    assert 2 <= at_kill < final[0], "the worker was not killed mid-shard"
    assert final[1] == 2, "the rerun started a new file instead of resuming the killed run's"
    # the report says the time shown is the retry's, and what the shard cost since it was submitted
    assert re.search(r"shard 1/2: done on \S+ in [\d.]+ s \(attempt 2 on \S+; [\d.]+ s since it was submitted, "
                     r"earlier attempts included\)", err), err[-3000:]
    assert re.search(r"since submission: 1/2 [\d.]+ s \(2 attempts\)", err), err[-3000:]
    assert_union_equals(sklearn_reference, shards, SKLEARN_TABLES)  # no unit twice, none missing
    assert_validates_as_one(shards, SKLEARN_TABLES)


# ---- SLURM: the job-array script's body, run as two array tasks on two "nodes" -----------------------------
SLURM = ROOT / "assets" / "slurm_array.sh"


def slurm_task(cwd: Path, k: int, node: str, *command: str) -> subprocess.CompletedProcess:
    """What SLURM does for array task k of 2: the script with the array variables set, $TMPDIR on the node."""
    (cwd / node).mkdir(exist_ok=True)
    env = random_hash_seed_env(SLURM_ARRAY_TASK_ID=str(k), SLURM_ARRAY_TASK_COUNT="2", SLURM_ARRAY_JOB_ID="77",
                               SLURM_SUBMIT_DIR=str(cwd), TMPDIR=str(cwd / node),
                               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", str(SLURM), *command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_slurm_script_refuses_to_run_outside_an_array_job(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    proc = subprocess.run(["bash", str(SLURM), "python", "t.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "run as an array job: sbatch --array=1-N" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_two_slurm_array_tasks_copy_back_shards_that_add_up_to_the_unsharded_run(tmp_path, sklearn_reference):
    command = ("python", str(SKLEARN), *SKLEARN_ARGS)
    for k, node in ((1, "node-a"), (2, "node-b")):
        proc = slurm_task(tmp_path, k, node, *command)
        assert proc.returncode == 0, proc.stderr[-3000:]
    shards = sorted((tmp_path / "shards").iterdir())
    assert [p.name for p in shards] == ["sklearn_benchmark.shard-1-of-2.db", "sklearn_benchmark.shard-2-of-2.db"]
    assert_union_equals(sklearn_reference, shards, SKLEARN_TABLES)
    assert_validates_as_one(shards, SKLEARN_TABLES)
    # the cache stayed on the node's disk, never beside the gathered files
    assert (tmp_path / "node-a" / "bench-77-1" / "sklearn_benchmark_cache").is_dir()
    # task 1 requeued on another node: it starts from its copied-back file and adds nothing
    before = read_rows(shards[0], "SELECT COUNT(*), COUNT(DISTINCT track_id) FROM scores")
    proc = slurm_task(tmp_path, 1, "node-c", *command)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "0 to run" in proc.stderr
    assert read_rows(shards[0], "SELECT COUNT(*), COUNT(DISTINCT track_id) FROM scores") == before
