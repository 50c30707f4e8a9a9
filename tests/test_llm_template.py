"""assets/llm_finetuning_template.py over real HTTP: calls are counted at a loopback server in this process.

The template runs as a subprocess (as a user runs it); the stand-in server runs here, so every count of
HTTP requests is the server's, not the template's own claim.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import llm_standin_server
import pytest
from helpers import ROOT, free_port, random_hash_seed_env, run_python
from llm_finetuning_template import (
    DATA,
    MODELS,
    PRICES,
    PROMPTS,
    Item,
    load_items,
    parse_answer,
    retry_after,
    row_columns,
    stratified_subset,
)
from llm_standin_server import StandinServer
from xetrack_fixtures import read_rows

TEMPLATE = ROOT / "assets" / "llm_finetuning_template.py"
DEMO_ITEMS = load_items(DATA)
N_CONFIGS = len(MODELS) * len(PROMPTS)
N_ITEMS = len(DEMO_ITEMS)
LABELS = {item.text: item.label for item in DEMO_ITEMS}


def run_template(cwd: Path, *args: str, script: Path = TEMPLATE, check: bool = True) -> subprocess.CompletedProcess:
    # a new process, new str hashes: what users get
    proc = run_python(script, *args, cwd=cwd, env=random_hash_seed_env(), timeout=180)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def printed_calls(proc: subprocess.CompletedProcess) -> int:
    return int(re.search(r"^calls \(HTTP requests made now\): (\d+) ", proc.stdout, re.MULTILINE)[1])


def answered(db: Path) -> list[tuple]:
    return read_rows(db, "SELECT config_id, input_id FROM predictions WHERE error = ''")


@pytest.fixture
def server():
    with StandinServer(dict(LABELS)) as srv:
        yield srv


# --- the no-argument demo --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("demo")
    start = time.perf_counter()
    proc = run_template(cwd)
    return cwd, proc, time.perf_counter() - start


@pytest.mark.slow
def test_the_no_argument_run_exits_0_with_one_row_per_configuration_and_input(demo_run):
    cwd, proc, _ = demo_run
    db = cwd / "llm_bench.db"
    done = answered(db)
    assert len(done) == len(set(done)) == N_CONFIGS * N_ITEMS
    assert read_rows(db, "SELECT COUNT(*) FROM predictions WHERE error != ''") == [(0,)]
    # every row carries its configuration and version
    assert read_rows(db, "SELECT COUNT(*) FROM predictions WHERE model IS NULL OR prompt_name IS NULL OR "
                    "temperature IS NULL OR endpoint IS NULL OR data_fingerprint IS NULL OR git_commit IS NULL") \
        == [(0,)]
    assert read_rows(db, "SELECT COUNT(DISTINCT config_id) FROM metrics") == [(N_CONFIGS,)]


@pytest.mark.slow
def test_the_no_argument_run_prints_the_database_and_the_next_commands(demo_run):
    _, proc, _ = demo_run
    assert "database: llm_bench.db" in proc.stdout
    assert "validate_benchmark.py llm_bench.db predictions" in proc.stdout  # through the skill's path
    # only the columns that vary, so the prompt texts do not end up in the configuration label
    # ranked by strict correctness, the parsed answers' accuracy beside it (trial S: ranked by the parsed ones, a
    # prompt that parses less often looked best); the same as the two CSV tables
    strict = ("export_summary.py llm_bench.db predictions --config-cols model,prompt_name --version e1 "
              "--metric correct_strict:higher --metric accuracy:higher --pairs all")
    # one latency in the comparison and the tables, in every version (trial Z): each answer's own call
    assert f"{strict} --latency-col latency_s --latency-of-replays\n" in proc.stdout
    assert f"{strict} --latency-col latency_s --latency-of-replays --csv --wide > llm_bench_e1_results.csv\n" in proc.stdout
    assert f"{strict} --csv --comparisons > llm_bench_e1_pairs.csv\n" in proc.stdout
    # models x prompts: "for each model, which prompt?" as its own family (trial Z added --within by hand)
    assert f"{strict} --within model --latency-col latency_s --latency-of-replays\n" in proc.stdout
    assert f"{strict} --within model --csv --comparisons > llm_bench_e1_within_model_pairs.csv\n" in proc.stdout
    # what callers waited, every call asked now: retries and backoff included
    assert f"{strict} --latency-col wait_s --failure-latency 0s\n" in proc.stdout
    assert "cost_usd uses the example PRICES table; edit PRICES or pass --prices FILE.json" in proc.stdout
    assert "pairs  80/80  100%" in proc.stderr, "no progress display on stderr"


@pytest.mark.slow
def test_the_summary_says_answered_and_parsed_and_prints_both_accuracies(demo_run):
    cwd, proc, _ = demo_run
    header = next(line for line in proc.stdout.splitlines() if line.startswith("model"))
    assert header.split()[2:4] == ["answered", "parsed"]
    assert "accuracy of parsed" in header and "strict: unparsed=wrong" in header
    for model, prompt, answered_n, parsed_n, strict in read_rows(
            cwd / "llm_bench.db", "SELECT model, prompt_name, COUNT(*), SUM(parse_ok), AVG(correct_strict) "
                                  "FROM predictions GROUP BY 1, 2"):
        line = next(x for x in proc.stdout.splitlines() if x.split()[:2] == [model, prompt])
        assert line.split()[2:4] == [str(answered_n), str(parsed_n)]
        assert f"{100 * strict:.1f}%" in line


@pytest.mark.slow
def test_every_row_of_both_tables_carries_the_experiment_version_and_the_callers_git_commit(demo_run):
    db = demo_run[0] / "llm_bench.db"
    for table in ("predictions", "metrics"):
        # The run's directory is outside any repository, although the template itself sits in one: the
        # commit recorded is the user's project's, not the skill's.
        assert read_rows(db, f"SELECT DISTINCT experiment_version, git_commit FROM {table}") == [("e1", "unversioned")]


@pytest.mark.slow
def test_the_no_argument_runs_database_passes_validate_benchmark_with_exit_0(demo_run):
    cwd, _, _ = demo_run
    script = ROOT / "scripts" / "validate_benchmark.py"
    assert script.exists(), "scripts/validate_benchmark.py has not landed yet"
    proc = run_python(script, cwd / "llm_bench.db", "predictions")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_demo_has_right_wrong_and_unparseable_answers_and_met_transient_failures(demo_run):
    db = demo_run[0] / "llm_bench.db"
    (right, wrong, unparsed, retried), = read_rows(
        db, "SELECT SUM(correct = 1), SUM(correct = 0), SUM(parse_ok = 0), SUM(retries > 0) FROM predictions")
    assert right > 0 and wrong > 0 and unparsed > 0 and retried > 0


# --- caching: counted at the server ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_run_in_a_new_process_makes_zero_http_calls(tmp_path, server):
    run_template(tmp_path, "--base-url", server.base_url)
    first = server.count()
    assert server.count(200) == N_CONFIGS * N_ITEMS and first > server.count(200), "no 429/5xx was retried"
    proc = run_template(tmp_path, "--base-url", server.base_url)
    assert server.count() == first
    assert len(answered(tmp_path / "llm_bench.db")) == N_CONFIGS * N_ITEMS
    assert printed_calls(proc) == 0


@pytest.mark.slow
def test_a_fresh_database_replays_every_answer_from_the_cache_with_its_configuration(tmp_path, server):
    run_template(tmp_path, "--base-url", server.base_url, "--db", "a.db")
    first = server.count()
    run_template(tmp_path, "--base-url", server.base_url, "--db", "b.db")
    assert server.count() == first
    (origin,), = read_rows(tmp_path / "a.db", "SELECT DISTINCT track_id FROM predictions")
    replayed = read_rows(tmp_path / "b.db", "SELECT cache, model, prompt_name, prompt_user, config_id, prediction "
                                       "FROM predictions")
    assert len(replayed) == N_CONFIGS * N_ITEMS
    assert all(r[0] == origin and None not in r[1:5] for r in replayed)
    same = "SELECT config_id, input_id, raw_response, prediction FROM predictions ORDER BY 1, 2"
    assert read_rows(tmp_path / "a.db", same) == read_rows(tmp_path / "b.db", same)
    # validate --same-as agrees: a replay made no request, so how each call went is left out of the comparison
    proc = run_python(ROOT / "scripts" / "validate_benchmark.py", tmp_path / "b.db", "predictions", "--same-as",
                      tmp_path / "a.db", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:]
    compared = json.loads(proc.stdout)["summary"]["same_as"]
    assert compared["agree"] == N_CONFIGS * N_ITEMS and {"answer", "prediction"} <= set(compared["compared"])
    assert {"attempts", "n_requests", "retries", "latency_s", "raw_response"} <= set(compared["left_out"])


@pytest.mark.slow
def test_two_runs_that_each_asked_the_endpoint_are_the_same_as_each_other_and_record_what_callers_waited(
        tmp_path, server):
    """Trial Z: two runs with their own caches (two machines) always differed in raw_response (the response's
    own `created` time), so --same-as could not pass; and latency_s, the answering request's time, hid the
    retries before it. wait_s is what the caller waited: every request and the backoff between them."""
    for name in ("a", "b"):
        run_template(tmp_path, "--base-url", server.base_url, "--db", f"{name}.db", "--cache-dir", f"{name}_cache")
    assert server.count(200) == 2 * N_CONFIGS * N_ITEMS  # both asked: no shared cache
    proc = run_python(ROOT / "scripts" / "validate_benchmark.py", tmp_path / "b.db", "predictions", "--same-as",
                      tmp_path / "a.db", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert json.loads(proc.stdout)["summary"]["same_as"]["agree"] == N_CONFIGS * N_ITEMS
    rows = read_rows(tmp_path / "a.db", "SELECT retries, latency_s, wait_s FROM predictions")
    retried = [(latency, wait) for retries, latency, wait in rows if retries]
    assert retried and all(wait > latency for latency, wait in retried)  # the backoff and the failed request
    assert all(wait >= latency for _, latency, wait in rows)


@pytest.mark.slow
def test_editing_one_prompt_in_a_copied_template_re_asks_only_that_prompt(tmp_path, server):
    # A developer copies the template, benchkit.py and the data, nothing else (the stand-in is only for the demo).
    copy = edited_copy(tmp_path)
    source = copy.read_text()
    run_template(tmp_path, "--base-url", server.base_url, script=copy)
    before = len(server.requests)
    edited = source.replace('"What is the sentiment ({labels}) of this review?\\n{text}"',
                            '"Classify the sentiment ({labels}) of this review:\\n{text}"')
    assert edited != source
    copy.write_text(edited)
    run_template(tmp_path, "--base-url", server.base_url, script=copy)
    new = [r for r in server.requests[before:] if r[1] == 200]
    assert len(new) == len(MODELS) * N_ITEMS
    assert all(user.startswith("Classify the sentiment") for _, _, _, user in new)


@pytest.mark.slow
def test_changing_one_input_re_asks_only_that_input(tmp_path):
    data = tmp_path / "items.jsonl"
    items = [{"id": i.id, "text": i.text, "label": i.label} for i in DEMO_ITEMS[:6]]
    data.write_text("".join(json.dumps(r) + "\n" for r in items))
    changed = "Works well, though the box was dented."
    with StandinServer({**LABELS, changed: "positive"}) as srv:
        run_template(tmp_path, "--base-url", srv.base_url, "--data", str(data))
        before = len(srv.requests)
        items[2]["text"] = changed
        data.write_text("".join(json.dumps(r) + "\n" for r in items))
        refused = run_template(tmp_path, "--base-url", srv.base_url, "--data", str(data), check=False)
        assert len(srv.requests) == before  # no call: other data under the same --experiment-version stops first
        second = run_template(tmp_path, "--base-url", srv.base_url, "--data", str(data), "--add-to-version")
        new = [r for r in srv.requests[before:] if r[1] == 200]
    # the scripts would report the two apart: the run says so, and goes on only when told to
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("llm_finetuning_template.py: error: e1's rows in llm_bench.db were made with "
                                     "data_fingerprint ")
    assert "warning: e1's rows in llm_bench.db were made with data_fingerprint " in " ".join(second.stderr.split())
    assert len(new) == N_CONFIGS and all(changed in user for _, _, _, user in new)
    # The new data version gets a full set of rows (5 of 6 per configuration replayed at no cost).
    versions = read_rows(tmp_path / "llm_bench.db", "SELECT data_fingerprint, COUNT(*) FROM predictions "
                                               "WHERE error = '' GROUP BY 1")
    assert sorted(n for _, n in versions) == [N_CONFIGS * 6, N_CONFIGS * 6]


@pytest.mark.slow
def test_an_inputs_own_fields_become_columns_to_slice_by_and_the_run_prints_the_filter(tmp_path, server):
    """Trial Z3 had a category per e-mail and wrote its own per-category analysis: the template dropped every
    field but id, text and label. Now the other fields go onto the input's rows (a dict as JSON text), the run
    prints the comparison per slice (`--by FIELD`; one slice: `--filter FIELD=VALUE`) and that command runs as
    printed; plain data keeps its data fingerprint; a field named like a column the template writes is
    refused before any call (exit 2, one line)."""
    data = tmp_path / "items.jsonl"
    items = [{"id": i.id, "text": i.text, "label": i.label, "category": "short" if len(i.text) < 40 else "long",
              "source": {"shop": "web"}, "stars": k % 5, "sales channel": "shop" if k % 2 else "web #2"}
             for k, i in enumerate(DEMO_ITEMS[:8])]
    data.write_text("".join(json.dumps(r) + "\n" for r in items))
    proc = run_template(tmp_path, "--base-url", server.base_url, "--data", str(data))
    db = tmp_path / "llm_bench.db"
    stored = read_rows(db, "SELECT input_id, category, source, stars FROM predictions")
    assert sorted(set(stored)) == sorted((r["id"], r["category"], '{"shop": "web"}', r["stars"]) for r in items)
    lines = proc.stdout.splitlines()
    why = next(k for k, line in enumerate(lines) if "# per category (long, short), a field of your data" in line)
    assert "--filter FIELD=VALUE" in lines[why] and lines[why + 2].strip().endswith(
        "--by category --csv --wide > llm_bench_e1_by_category.csv"), lines[why:why + 3]
    assert any(line.strip().startswith("# per stars (0, 1, 2, 3, ...)") for line in lines)  # trial C: each field
    # a field xetrack renames is named by its column, and the table's redirect runs as printed (quoted)
    assert "note: xetrack stores the data's field 'sales channel' as sales_channel" in proc.stderr
    channel = next(k for k, line in enumerate(lines) if "# per sales_channel (shop, web #2)" in line)
    redirect = lines[channel + 2].strip()
    assert redirect.endswith("--by sales_channel --csv --wide > llm_bench_e1_by_sales_channel.csv"), redirect
    assert subprocess.run(["bash", "-c", redirect], cwd=tmp_path).returncode == 0
    assert (tmp_path / "llm_bench_e1_by_sales_channel.csv").read_text().count("web #2") >= 2
    # trial G ran the 11 printed commands by hand: they are also one script, every command as printed
    assert "  # all of them at once: bash llm_bench_e1_next.sh" in lines
    script = (tmp_path / "llm_bench_e1_next.sh").read_text().splitlines()
    assert [x for x in script if x.startswith("python ")] == [x.strip() for x in lines if x.startswith("  python ")]
    ran = subprocess.run(["bash", "llm_bench_e1_next.sh"], cwd=tmp_path, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert all((tmp_path / f"llm_bench_e1_{t}.csv").stat().st_size
               for t in ("results", "pairs", "by_category", "by_category_pairs"))  # trial J: the slices' pairs too
    elsewhere = tmp_path / "elsewhere"  # no database there: every command fails, and the script names them
    elsewhere.mkdir()
    broken = subprocess.run(["bash", str(tmp_path / "llm_bench_e1_next.sh")], cwd=elsewhere, capture_output=True,
                            text=True)
    assert broken.returncode == 1 and "commands that did not exit 0 (number(exit code)): 1(2) 2(2)" in broken.stderr
    command = lines[why + 1].strip()
    assert command.endswith("--by category"), command
    sliced = subprocess.run(shlex.split(command) + ["--json"], cwd=tmp_path, capture_output=True, text=True)
    assert sliced.returncode == 0, sliced.stderr
    parts = {v["version"]["category"]: v["configurations"] for v in json.loads(sliced.stdout)["versions"]}
    assert {k: {c["items"] for c in v} for k, v in parts.items()} == {
        k: {sum(r["category"] == k for r in items)} for k in ("long", "short")}

    # the names a field may not take are every column the template writes (row_columns, kept honest here)
    written = {name for (name,) in read_rows(db, "SELECT name FROM pragma_table_info('predictions')")}
    versions = {"git_commit", "python_version", "xetrack_version", "numpy_version", "data_fingerprint",
                "experiment_version", "host"}
    assert written - {"category", "source", "stars", "sales_channel"} - versions == row_columns("demo-small"), written

    import benchkit
    plain = [{"id": i.id, "text": i.text, "label": i.label} for i in DEMO_ITEMS]
    assert benchkit.fingerprint([i.record() for i in DEMO_ITEMS]) == benchkit.fingerprint(plain)

    clash = tmp_path / "clash.jsonl"
    clash.write_text("".join(json.dumps({**r, "model": "x", "latency_s": 1}) + "\n" for r in items))
    before = len(server.requests)
    refused = run_template(tmp_path, "--base-url", server.base_url, "--data", str(clash), "--db", "other.db",
                           check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "the fields latency_s, model would overwrite columns this template writes" in refused.stderr
    assert len(server.requests) == before and not (tmp_path / "other.db").exists()
    # names xetrack cannot store (it writes them unquoted) are refused before any call too
    keyword = tmp_path / "keyword.jsonl"
    keyword.write_text("".join(json.dumps({**r, "order": 1, "1st": 2}) + "\n" for r in items))
    refused = run_template(tmp_path, "--base-url", server.base_url, "--data", str(keyword), "--db", "other.db",
                           check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "the fields order, 1st cannot be columns" in refused.stderr
    assert len(server.requests) == before and not (tmp_path / "other.db").exists()


# --- failures ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_exhausted_429s_and_500s_become_uncached_error_rows_and_only_they_are_retried_next_run(tmp_path, server):
    rate_limited, broken = DEMO_ITEMS[3], DEMO_ITEMS[7]
    server.fail_always = {rate_limited.text: 429, broken.text: 500}
    proc = run_template(tmp_path, "--base-url", server.base_url, "--max-retries", "2", check=False)
    assert proc.returncode == 1, "unanswered calls must show in the exit code"
    db = tmp_path / "llm_bench.db"
    errors = read_rows(db, "SELECT input_id, retries, error, attempts, n_requests, n_429, n_5xx, cache "
                       "FROM predictions WHERE error != ''")
    assert sorted(e[0] for e in errors) == sorted([rate_limited.id, broken.id] * N_CONFIGS)
    assert all(e[1] == 2 and "gave up after 3 attempts" in e[2] for e in errors)
    assert {"HTTP 429" in e[2] for e in errors} == {True, False}
    # every attempt is recorded with its class, so a rate limit can be told from a broken server
    assert sorted({e[3:7] for e in errors}) == [("429,429,429", 3, 3, 0), ("500,500,500", 3, 0, 3)]
    assert {e[0] for e in errors if e[3].startswith("429")} == {rate_limited.id} and {e[7] for e in errors} == {""}
    assert len(answered(db)) == N_CONFIGS * (N_ITEMS - 2), "a failing input stopped other work"
    assert "run again to retry only those" in proc.stdout

    server.fail_always = {}
    before = len(server.requests)
    run_template(tmp_path, "--base-url", server.base_url, "--max-retries", "2")
    retried = server.requests[before:]
    assert len(retried) == 2 * N_CONFIGS
    assert {user for _, _, _, user in retried} <= {u for _, _, _, u in server.requests[:before]
                                                  if rate_limited.text in u or broken.text in u}
    done = answered(db)
    assert len(done) == len(set(done)) == N_CONFIGS * N_ITEMS


@pytest.mark.slow
def test_a_retry_after_429_waits_as_long_as_the_server_asked(tmp_path, server):
    run_template(tmp_path, "--base-url", server.base_url)
    seen: dict[tuple, list] = {}
    for t, status, model, user in server.requests:
        seen.setdefault((model, user), []).append((t, status))
    gaps = [calls[1][0] - calls[0][0] for calls in seen.values() if calls[0][1] == 429]
    assert gaps, "the stand-in sent no 429"
    # retry-after-ms is 50; the 429 is recorded after the server's own ~10-30 ms of simulated work
    assert min(gaps) >= 0.05


@pytest.mark.slow
def test_a_request_that_times_out_is_retried(tmp_path, server):
    slow = DEMO_ITEMS[0]
    server.stall_first = {slow.text: 2.0}
    run_template(tmp_path, "--base-url", server.base_url, "--limit", "2", "--timeout", "0.5")
    got = read_rows(tmp_path / "llm_bench.db", "SELECT retries, error, attempts, n_timeouts FROM predictions "
                    "WHERE input_id = ?", [slow.id])
    assert len(got) == N_CONFIGS and all(r[:2] == (r[0], "") and r[0] >= 1 for r in got)
    assert all(r[2].startswith("ReadTimeout,") and r[2].endswith(",200") and r[3] >= 1 for r in got)


@pytest.mark.slow
def test_a_client_error_is_not_retried(tmp_path, server):
    wrong_path = server.base_url.replace("/v1", "/nope")
    assert run_template(tmp_path, "--base-url", wrong_path, "--limit", "2", check=False).returncode == 1
    errors = read_rows(tmp_path / "llm_bench.db", "SELECT retries, error, attempts, n_4xx_other FROM predictions")
    assert len(errors) == 2 * N_CONFIGS == server.count(404)
    assert all(r[0] == 0 and r[1].startswith("CallFailed: HTTP 404") and r[2:] == ("404", 1) for r in errors)


@pytest.mark.slow
def test_a_parse_failure_is_recorded_as_such_and_counted_as_wrong_only_in_correct_strict(tmp_path, server):
    run_template(tmp_path, "--base-url", server.base_url)
    db = tmp_path / "llm_bench.db"
    got = read_rows(db, "SELECT answer, parse_ok, parse_error, prediction, correct, config_id, correct_strict, "
                   "ground_truth FROM predictions")
    no_label = [r for r in got if not any(label in r[0].lower() for label in ("positive", "negative"))]
    assert no_label, "the stand-in gave no unparseable answer"
    assert sorted(no_label) == sorted(r for r in got if r[1] == 0)
    assert all(r[2] and r[3] is None and r[4] is None and r[6] == 0 for r in no_label)
    assert all(r[6] == r[4] == int(r[3] == r[7]) for r in got if r[1] == 1)
    for cid, n_fail, acc, strict in read_rows(db, "SELECT config_id, n_parse_failures, accuracy, "
                                             "accuracy_if_unparsed_wrong FROM metrics"):
        mine = [r for r in got if r[5] == cid]
        parsed = [r for r in mine if r[1] == 1]
        assert n_fail == len(mine) - len(parsed)
        assert acc == pytest.approx(sum(r[4] for r in parsed) / len(parsed))
        assert strict == pytest.approx(sum(r[3] == r[7] for r in mine) / len(mine))


@pytest.mark.slow
def test_a_new_experiment_version_gets_its_own_full_set_of_rows_without_new_calls(tmp_path, server):
    run_template(tmp_path, "--base-url", server.base_url, "--experiment-version", "dev")
    calls = server.count()
    proc = run_template(tmp_path, "--base-url", server.base_url, "--experiment-version", "e2")
    assert server.count() == calls, "the second version re-asked the endpoint"
    db = tmp_path / "llm_bench.db"
    per_version = read_rows(db, "SELECT experiment_version, COUNT(*), COUNT(DISTINCT config_id || '/' || input_id), "
                           "SUM(cache != '') FROM predictions WHERE error = '' GROUP BY 1 ORDER BY 1")
    n = N_CONFIGS * N_ITEMS
    assert per_version == [("dev", n, n, 0), ("e2", n, n, n)]
    assert read_rows(db, "SELECT experiment_version, COUNT(*) FROM metrics GROUP BY 1 ORDER BY 1") == \
        [("dev", N_CONFIGS), ("e2", N_CONFIGS)]
    assert f"calls (HTTP requests made now): 0 (none); answered now: 0, cache hits: {n} (0 repeated in this run, " \
        f"{n} from earlier runs)" in proc.stdout


@pytest.mark.slow
def test_prices_from_a_file_replace_the_example_table(tmp_path, server):
    prices = {"demo-small": [2.0, 3.0], "demo-large": [20.0, 30.0]}
    (tmp_path / "prices.json").write_text(json.dumps(prices))
    proc = run_template(tmp_path, "--base-url", server.base_url, "--limit", "4", "--prices", "prices.json")
    assert "example PRICES" not in proc.stdout
    got = read_rows(tmp_path / "llm_bench.db", "SELECT model, prompt_tokens, completion_tokens, cost_usd FROM predictions")
    assert len(got) == 4 * N_CONFIGS
    for model, tokens_in, tokens_out, cost in got:
        assert cost == pytest.approx((tokens_in * prices[model][0] + tokens_out * prices[model][1]) / 1e6)
        assert cost != pytest.approx((tokens_in * PRICES[model][0] + tokens_out * PRICES[model][1]) / 1e6)


@pytest.mark.slow
def test_limit_takes_a_subset_spread_over_the_labels_not_the_first_lines(tmp_path, server):
    # A file sorted by label: its first four lines are all positive.
    ordered = sorted(DEMO_ITEMS, key=lambda i: (i.label != "positive", i.id))
    data = tmp_path / "sorted.jsonl"
    data.write_text("".join(json.dumps({"id": i.id, "text": i.text, "label": i.label}) + "\n" for i in ordered))
    run_template(tmp_path, "--base-url", server.base_url, "--data", str(data), "--limit", "4")
    got = read_rows(tmp_path / "llm_bench.db", "SELECT DISTINCT input_id, ground_truth FROM predictions ORDER BY 1")
    lowest = {label: sorted(i.id for i in DEMO_ITEMS if i.label == label)[:2] for label in ("negative", "positive")}
    assert got == sorted((i, label) for label, ids in lowest.items() for i in ids)


def test_stratified_subset_is_round_robin_over_labels_in_id_order():
    items = [Item(i, f"t{i}", label) for i, label in [(10, "a"), (2, "a"), (3, "b"), (1, "a"), (7, "c")]]
    assert [i.id for i in stratified_subset(items, 3)] == [1, 3, 7]  # one per label, lowest id first
    assert [i.id for i in stratified_subset(items, 4)] == [1, 2, 3, 7]
    assert stratified_subset(items, None) == items and stratified_subset(items, 9) == items
    assert stratified_subset(items, 4) == stratified_subset(list(reversed(items)), 4)
    # a pilot's inputs are inside every larger run's: its answers replay there, none asked twice (templates.md)
    for n in range(1, len(items)):
        assert {i.id for i in stratified_subset(items, n)} <= {i.id for i in stratified_subset(items, n + 1)}


def test_the_stand_in_servers_docstring_does_not_give_away_its_rates():
    # An agent read rates stated there as the answer key instead of measuring them.
    doc = llm_standin_server.__doc__
    rates = [*llm_standin_server.SKILL.values(), llm_standin_server.DEFAULT_SKILL,
             *llm_standin_server.UNPARSEABLE_RATE.values()]
    for rate in rates:
        assert f"{rate:g}" not in doc and f"{100 * rate:g}%" not in doc and f"{100 * rate:g} %" not in doc
    assert "%" not in doc and "most" in doc and "some" in doc and "few" in doc


def test_parse_answer_accepts_exactly_one_label_word():
    labels = ["negative", "positive"]
    assert parse_answer("Positive.", labels) == ("positive", "")
    assert parse_answer("The sentiment of this text is negative.", labels) == ("negative", "")
    assert parse_answer("Hard to say.", labels) == (None, "no label in the answer")
    assert parse_answer("positive and negative", labels)[0] is None
    assert parse_answer("nonpositive", labels)[0] is None
    assert parse_answer(None, labels)[0] is None


def test_parse_answer_takes_a_step_by_step_answers_last_answer_line():
    """Trial S: reasoning names both labels on the way ('yes, but no...'), so the parser failed on every
    step-by-step answer; its last 'Answer: <label>' line decides, and without one the old rule holds."""
    labels = ["no", "yes"]
    reasoning = "Refunds within 30 days: yes. Opened items: no.\nSo it depends on the seal.\nAnswer: No"
    assert parse_answer(reasoning, labels) == ("no", "")
    assert parse_answer("Answer: maybe yes\nFinal answer: yes", labels) == ("yes", "")
    assert parse_answer("yes or no?\nAnswer: unclear", labels) == (None, "several labels: no, yes")
    assert parse_answer("Answer: yes and no", labels)[0] is None


def test_retry_after_reads_milliseconds_seconds_and_http_dates():
    assert retry_after(httpx.Headers({"retry-after-ms": "150", "Retry-After": "1"})) == pytest.approx(0.15)
    assert retry_after(httpx.Headers({"Retry-After": "2"})) == 2.0
    soon = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after(httpx.Headers({"Retry-After": soon})) <= 30
    assert retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


# --- concurrency and crashes ------------------------------------------------------------------------------


@pytest.mark.slow
def test_eight_concurrent_workers_lose_no_rows(tmp_path, server):
    run_template(tmp_path, "--base-url", server.base_url, "--concurrency", "8", "--seeds", "3")
    done = answered(tmp_path / "llm_bench.db")
    assert len(done) == len(set(done)) == 3 * N_CONFIGS * N_ITEMS == server.count(200)


@pytest.mark.slow
def test_killed_mid_run_and_restarted_it_finishes_with_no_duplicate_and_no_missing_row(tmp_path):
    with StandinServer(dict(LABELS), latency_s=0.05) as srv:
        args = [sys.executable, str(TEMPLATE), "--base-url", srv.base_url, "--concurrency", "2", "--seeds", "2"]
        proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db = tmp_path / "llm_bench.db"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(answered(db)) >= 20:
                    break
            except sqlite3.Error:  # not created yet
                pass
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        partial = len(answered(db))
        assert 20 <= partial < 2 * N_CONFIGS * N_ITEMS, "the run was not killed mid-way"
        run_template(tmp_path, "--base-url", srv.base_url, "--concurrency", "2", "--seeds", "2")
    done = answered(db)
    assert len(done) == len(set(done)) == 2 * N_CONFIGS * N_ITEMS


def test_a_rehearsed_crash_loses_at_most_the_calls_in_flight_and_replays_answers_not_yet_logged(tmp_path):
    """execution.md: a SIGKILL (BENCHKIT_CRASH_AFTER) loses only the calls in flight, at most --concurrency:
    sent but neither answered nor logged, so the resumed run asks them again; an answer that arrived but was
    not logged yet is in the response cache and is replayed, not asked again. So the endpoint sees every
    (configuration, input) once, plus at most `concurrency` repeats, and the rows end complete and unique."""
    concurrency = 4
    with StandinServer(dict(LABELS), latency_s=0.2) as srv:
        args = ["--base-url", srv.base_url, "--concurrency", str(concurrency)]
        crashed = run_python(TEMPLATE, *args, cwd=tmp_path, env=random_hash_seed_env(BENCHKIT_CRASH_AFTER="10"),
                             timeout=180)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        assert len(answered(tmp_path / "llm_bench.db")) == 10
        run_template(tmp_path, *args)
        answers_sent = srv.count(200)  # the demo's scripted 429/500s are retried: count the answers
    done = answered(tmp_path / "llm_bench.db")
    assert len(done) == len(set(done)) == N_CONFIGS * N_ITEMS
    lost = answers_sent - N_CONFIGS * N_ITEMS  # answered by the endpoint, never received or logged
    assert 0 <= lost <= concurrency, (answers_sent, lost)


# --- the command line ---------------------------------------------------------------------------------------


def test_help_describes_every_flag_and_exits_0(tmp_path):
    proc = run_template(tmp_path, "--help")
    for flag in ("--base-url", "--models", "--data", "--limit", "--db", "--cache-dir", "--concurrency",
                 "--timeout", "--max-retries", "--api-key-env", "PRICES", "--prices", "--experiment-version", "--shard"):
        assert flag in proc.stdout
    assert not (tmp_path / "llm_bench.db").exists()


@pytest.mark.slow
def test_the_stand_ins_command_line_stalls_and_fails_requests_and_wait_s_counts_what_callers_waited(tmp_path):
    """Trial Z wrote a script to see a timeout and a failure: `--stall TEXT=SECONDS` and `--fail TEXT=STATUS` now
    do it from the command line. The stalled call times out (1 s), is retried and answers: latency_s is the
    answering request's, wait_s what the caller waited; the failing call's wait_s runs until it gave up."""
    bad = run_python(ROOT / "assets" / "llm_standin_server.py", "--fail", "no status")
    assert bad.returncode == 2 and "expected TEXT=INT, got 'no status'" in bad.stderr and "Traceback" not in bad.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "assets" / "llm_standin_server.py"), "--port", str(port),
                               "--stall", "Arrived quickly=3", "--fail", "Stopped charging=500"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert "stand-in chat-completions endpoint at" in server.stdout.readline()
        proc = run_template(tmp_path, "--base-url", f"http://127.0.0.1:{port}/v1", "--models", "demo-large",
                            "--prompts", "one_word", "--timeout", "1", "--max-retries", "1", "--concurrency", "1",
                            check=False)
        assert proc.returncode == 1, proc.stderr[-2000:]  # a pair without an answer: exit 1, as documented
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()
    rows = {text: (attempts, latency, wait, error) for text, attempts, latency, wait, error in read_rows(
        tmp_path / "llm_bench.db", "SELECT raw_request, attempts, latency_s, wait_s, error FROM predictions")}
    stalled = next(v for k, v in rows.items() if "Arrived quickly" in k)
    failed = next(v for k, v in rows.items() if "Stopped charging" in k)
    assert stalled[0] == "ReadTimeout,200" and stalled[1] < 1 < stalled[2] and stalled[3] == ""
    assert failed[0] == "500,500" and failed[1] is None and failed[2] > 0 and failed[3].startswith("CallFailed")


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.mark.parametrize("args, message", [
    (["--limit", "0"], "--limit must be at least 1"),
    (["--data", "missing.jsonl"], "cannot read --data missing.jsonl"),
    (["--prompts", "nope"], "no models, prompts or inputs selected"),
    (["--base-url", "localhost:8000/v1"], "--base-url must start with http:// or https://"),
    (["--base-url", closed_port_url()], "cannot reach http://127.0.0.1:"),
    (["--prices", "missing.json"], "cannot read --prices missing.json"),
    (["--prices", "bad_prices.json"], "cannot read --prices bad_prices.json: expected {"),
    (["--experiment-version", " "], "--experiment-version must not be empty"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "bad_prices.json").write_text(json.dumps({"demo-small": 0.1}))  # not [input, output]
    proc = run_template(tmp_path, *args, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "llm_bench.db").exists()


def test_a_db_path_that_is_not_a_database_is_one_line_exit_2_and_left_untouched(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    before = notes.read_bytes()
    proc = run_template(tmp_path, "--db", "notes.txt", "--limit", "1", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--db notes.txt" in proc.stderr
    assert notes.read_bytes() == before


# --- call accounting: a call is an HTTP request made now ------------------------------------------------------


def write_jsonl(path: Path, items) -> Path:
    path.write_text("".join(json.dumps({"id": i.id, "text": i.text, "label": i.label}) + "\n" for i in items))
    return path


def with_repeats(copies: int = 2, repeated: int = 6) -> list[Item]:
    """The demo items, each of the first `repeated` texts followed at once by `copies` copies under new ids,
    so that a text and its copies are asked together by parallel workers."""
    out = []
    for item in DEMO_ITEMS:
        out.append(item)
        if item.id < repeated:
            out += [Item(1000 * (k + 1) + item.id, item.text, item.label) for k in range(copies)]
    return out


@pytest.mark.slow
def test_with_repeated_inputs_the_printed_and_stored_call_counts_equal_the_servers_request_count(tmp_path, server):
    items = with_repeats()
    n_repeats = len(items) - N_ITEMS
    data = write_jsonl(tmp_path / "repeated.jsonl", items)
    proc = run_template(tmp_path, "--base-url", server.base_url, "--data", str(data), "--concurrency", "8")
    db = tmp_path / "llm_bench.db"
    (run_id,), = read_rows(db, "SELECT DISTINCT track_id FROM predictions")
    (stored, n_429, n_5xx), = read_rows(db, "SELECT SUM(n_requests), SUM(n_429), SUM(n_5xx) FROM predictions")
    assert printed_calls(proc) == stored == server.count() > server.count(200), "no 429/5xx was retried"
    assert (n_429, n_5xx) == (server.count(429), server.count(500) + server.count(503))
    # one answered request per distinct request; every repeat is a hit on this run's own call, not a call
    assert server.count(200) == N_CONFIGS * N_ITEMS
    hits = read_rows(db, "SELECT request_key, raw_response, n_requests, attempts FROM predictions WHERE cache = ?",
                     [run_id])
    assert len(hits) == N_CONFIGS * n_repeats and all(h[2:] == (0, "") for h in hits)
    assert f"cache hits: {N_CONFIGS * n_repeats} ({N_CONFIGS * n_repeats} repeated in this run, 0 from earlier runs)" \
        in proc.stdout
    # lineage: each hit's request_key leads to the one row whose requests were made now, with the same answer
    made = dict(read_rows(db, "SELECT request_key, raw_response FROM predictions WHERE cache = ''"))
    assert len(made) == N_CONFIGS * N_ITEMS
    assert all(made[key] == raw for key, raw, _, _ in hits)
    script = ROOT / "scripts" / "validate_benchmark.py"
    check = run_python(script, db, "predictions")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_identical_requests_in_flight_at_the_same_time_are_sent_once(tmp_path):
    # Every first attempt of a repeated text takes 0.5 s: its copies, submitted together, find it in flight.
    items = with_repeats(copies=3, repeated=4)
    with StandinServer(dict(LABELS), transient_failures=False) as srv:
        srv.stall_first = {i.text: 0.5 for i in DEMO_ITEMS[:4]}
        proc = run_template(tmp_path, "--base-url", srv.base_url, "--data",
                            str(write_jsonl(tmp_path / "r.jsonl", items)), "--concurrency", "4", "--prompts", "one_word")
        sent = [(model, user) for _, status, model, user in srv.requests]
    assert len(sent) == len(set(sent)) == len(MODELS) * N_ITEMS == printed_calls(proc)


# --- the EDIT block ----------------------------------------------------------------------------------------------

EDIT_START, EDIT_END = "# ==", "END EDIT"


def edit_block(source: str) -> tuple[int, int]:
    """(first, last) line numbers, 1-based, of the EDIT block."""
    lines = source.splitlines()
    first = next(n for n, line in enumerate(lines, 1) if line.startswith(EDIT_START) and "EDIT" in line)
    last = next(n for n, line in enumerate(lines, 1) if EDIT_END in line)
    return first, last


def test_the_edit_block_on_the_first_screen_holds_endpoint_data_prompts_parser_models_and_defaults():
    source = TEMPLATE.read_text()
    first, last = edit_block(source)
    assert last <= 80
    block = "\n".join(source.splitlines()[first - 1:last])
    for name in ("BASE_URL =", "API_KEY_ENV =", "DATA =", "MODELS =", "PROMPTS =", "def parse_answer(", "PRICES =",
                 "TEMPERATURE, MAX_TOKENS, SEEDS =", "DB, CACHE_DIR, EXPERIMENT_VERSION =",
                 "CONCURRENCY, TIMEOUT_S, MAX_RETRIES ="):
        defined = [line for line in source.splitlines() if line.startswith(name)]
        assert len(defined) == 1 and defined[0] in block, f"{name} is not defined once, in the EDIT block"
    docstring = source.split('"""')[1]
    assert len(docstring.strip().splitlines()) <= 15


def edited_copy(folder: Path, **constants: str) -> Path:
    """The template, benchkit and the demo data copied into `folder`, with `NAME = value` lines of the EDIT
    block replaced (and nothing else: asserted)."""
    folder.mkdir(exist_ok=True)
    for name in ("benchkit.py", "llm_demo_data.jsonl"):
        shutil.copy(ROOT / "assets" / name, folder)
    source = TEMPLATE.read_text()
    lines = source.splitlines(keepends=True)
    for name, value in constants.items():
        n = next(k for k, line in enumerate(lines) if line.startswith(f"{name} = "))
        lines[n] = f"{name} = {value}\n"
    first, last = edit_block(source)
    changed = [k + 1 for k, (a, b) in enumerate(zip(source.splitlines(keepends=True), lines, strict=True)) if a != b]
    assert len(changed) == len(constants) and all(first < k < last for k in changed)
    copy = folder / "llm_finetuning_template.py"
    copy.write_text("".join(lines))
    return copy


@pytest.mark.slow
def test_changing_only_the_edit_blocks_endpoint_sends_every_request_to_the_other_server(tmp_path, server):
    with StandinServer(dict(LABELS)) as other:
        # No flag at all: what the EDIT block says is what runs.
        run_template(tmp_path, script=edited_copy(tmp_path / "a", BASE_URL=repr(server.base_url)))
        assert server.count(200) == N_CONFIGS * N_ITEMS and other.count() == 0
        first = server.count()
        run_template(tmp_path, script=edited_copy(tmp_path / "b", BASE_URL=repr(other.base_url)))
        assert other.count(200) == N_CONFIGS * N_ITEMS and server.count() == first
    endpoints = read_rows(tmp_path / "llm_bench.db", "SELECT endpoint, COUNT(*) FROM predictions GROUP BY 1 ORDER BY 1")
    assert endpoints == sorted([(server.base_url, N_CONFIGS * N_ITEMS), (other.base_url, N_CONFIGS * N_ITEMS)])


@pytest.mark.slow
def test_changing_only_the_edit_blocks_data_and_models_runs_that_dataset_and_those_models(tmp_path):
    items = [Item(f"q{k}", f"Question {k}: is {k} even?", "yes" if k % 2 == 0 else "no") for k in range(6)]
    data = write_jsonl(tmp_path / "mine.jsonl", items)
    with StandinServer({i.text: i.label for i in items}) as srv:
        copy = edited_copy(tmp_path / "c", BASE_URL=repr(srv.base_url), DATA=repr(str(data)),
                           MODELS='("model-a",)')
        run_template(tmp_path, script=copy)
        models = {model for _, _, model, _ in srv.requests}
    assert models == {"model-a"}
    got = read_rows(tmp_path / "llm_bench.db", "SELECT DISTINCT input_id, ground_truth, model FROM predictions")
    assert sorted(got) == sorted((i.id, i.label, "model-a") for i in items)


# --- cache keys cover the code: a changed cached shape is asked again, never replayed without its new field --------


@pytest.mark.slow
def test_a_changed_cached_answer_shape_under_the_same_cache_dir_is_asked_again_and_every_row_has_the_new_column(
        tmp_path, server):
    run_template(tmp_path, "--base-url", server.base_url, "--db", "old.db", "--cache-dir", "cache", "--limit", "6")
    before = server.count(200)
    assert before == N_CONFIGS * 6
    copy = edited_copy(tmp_path / "changed")
    source = copy.read_text()
    edits = [("    run: str  # the run (track_id) that made the requests\n",
              "    run: str  # the run (track_id) that made the requests\n    asked_at: float = 0.0\n"),
             ('answer = Answer(raw, latency, ",".join(attempts), self.run_id)',
              'answer = Answer(raw, latency, ",".join(attempts), self.run_id, time.time())'),
             ('"latency_s": answer.latency_s, "wait_s": waited, "error": ""',
              '"latency_s": answer.latency_s, "wait_s": waited, "error": "", "asked_at": answer.asked_at')]
    for old, new in edits:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    copy.write_text(source)
    proc = run_template(tmp_path, "--base-url", server.base_url, "--db", "new.db", "--cache-dir", "cache",
                        "--limit", "6", script=copy)
    assert server.count(200) == 2 * before, "old cache entries were replayed without the new field"
    assert printed_calls(proc) > 0
    assert read_rows(tmp_path / "new.db", "SELECT COUNT(*), SUM(asked_at > 0), SUM(cache != '') FROM predictions") \
        == [(N_CONFIGS * 6, N_CONFIGS * 6, 0)]


@pytest.mark.slow
def test_bumping_template_version_asks_again_and_keeping_it_replays(tmp_path, server):
    run_template(tmp_path, "--base-url", server.base_url, "--db", "a.db", "--limit", "4")
    before = server.count(200)
    copy = edited_copy(tmp_path / "same")  # an unchanged copy: same keys, nothing asked
    run_template(tmp_path, "--base-url", server.base_url, "--db", "b.db", "--cache-dir", str(tmp_path / "llm_cache"),
                 "--limit", "4", script=copy)
    assert server.count(200) == before
    copy.write_text(copy.read_text().replace('TEMPLATE_VERSION = "', 'TEMPLATE_VERSION = "bumped-', 1))
    run_template(tmp_path, "--base-url", server.base_url, "--db", "c.db", "--cache-dir", str(tmp_path / "llm_cache"),
                 "--limit", "4", script=copy)
    assert server.count(200) == 2 * before


@pytest.mark.parametrize("lines, message", [
    (['{"id": 1, "text": "a", "label": "x"}', '{"id": 1, "text": "b", "label": "y"}'], "id 1 on line 2 is also on line 1"),
    (['["not", "an", "object"]'], "AttributeError"),
    (['{"id": 1, "text": "a"}'], "KeyError: 'label'"),
])
def test_a_data_file_with_a_repeated_id_or_a_malformed_line_is_one_line_and_exit_2(tmp_path, lines, message):
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    proc = run_template(tmp_path, "--data", "d.jsonl", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "llm_bench.db").exists()


def test_a_version_replayed_from_the_cache_gets_the_original_calls_latency_with_latency_of_replays(tmp_path, server):
    """Trial N: a new --experiment-version replays every earlier answer (no call paid twice), and its latency
    percentiles then rested on no call at all, with no word said. Now export says so (latency-without-replays)
    and --latency-of-replays counts the replayed rows' latency_s, which is the original call's: the same
    percentiles as the version that made the calls."""
    run_template(tmp_path, "--base-url", server.base_url)
    sent = server.count()
    replayed = run_template(tmp_path, "--base-url", server.base_url, "--experiment-version", "e2")
    assert server.count() == sent  # every answer replayed
    db = str(tmp_path / "llm_bench.db")

    def latency(version: str, *more: str) -> tuple[dict, list]:
        proc = run_python(ROOT / "scripts" / "export_summary.py", db, "predictions", "--config-cols",
                          "model,prompt_name", "--version", version, "--latency-col", "latency_s", *more, "--json",
                          cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        by_label = {c["label"]: {**c["latency"], "slo": c["slo"]} for c in doc["versions"][0]["configurations"]}
        return by_label, [f for f in doc["findings"] if f["check_id"] == "latency-without-replays"]

    def judged(by_label: dict) -> dict:  # each configuration's objective: calls judged, share broken, verdict
        return {k: [(c["calls"], c["share"], c["verdict"]) for c in v["slo"]["clauses"]] for k, v in by_label.items()}

    # the template itself prints that command for a version with replays (trial S: it printed wait_s, empty
    # there), and no wait_s command for it (every answer replayed: no caller waited)
    lines = [x for x in replayed.stdout.splitlines() if "--pairs all" in x and "--latency-col" in x and ">" not in x]
    assert lines[0].endswith("--version e2 --metric correct_strict:higher --metric accuracy:higher --pairs all "
                             "--latency-col latency_s --latency-of-replays")
    assert not any("wait_s" in x for x in lines)
    made, quiet = latency("e1", "--slo", "p95<10s")
    bare, (finding,) = latency("e2", "--slo", "p95<10s")
    counted, none = latency("e2", "--latency-of-replays", "--slo", "p95<10s")
    assert quiet == [] and none == []
    assert all(lat.get("p50") is None for lat in bare.values())
    assert finding["hint"].endswith("add --latency-of-replays to count it.") and len(finding["examples"]) == 4
    assert {k: (v["p50"], v["p95"]) for k, v in counted.items()} == {k: (v["p50"], v["p95"]) for k, v in made.items()}
    # the per-configuration objective too: judged on the original calls' times, as the version that made them
    assert judged(counted) == judged(made) and all(c[0][0] > 0 for c in judged(made).values())


def test_a_smoke_runs_few_replays_change_no_printed_latency(tmp_path, server):
    """Trial U: the smoke run's answers (sharing the cache) replayed into the real run, and that alone switched
    the printed latency from what callers waited (wait_s) to each call's own time, p95 about 10x lower. The
    comparison's latency is now each call's own in every version (trial Z), and a minority of replays keeps the
    command for what callers waited, over the calls made."""
    run_template(tmp_path, "--base-url", server.base_url, "--limit", "6", "--experiment-version", "dev")
    real = run_template(tmp_path, "--base-url", server.base_url)
    assert "cache hits: " in real.stdout and " 0 from earlier runs" not in real.stdout  # some replayed
    head = "--version e1 --metric correct_strict:higher --metric accuracy:higher --pairs all"
    lines = [x for x in real.stdout.splitlines() if "--pairs all" in x and "--latency-col" in x and ">" not in x]
    assert lines[0].endswith(f"{head} --latency-col latency_s --latency-of-replays")
    assert lines[-1].endswith(f"{head} --latency-col wait_s --failure-latency 0s")


def test_a_run_of_one_model_labels_the_report_by_every_configuration_of_its_version(tmp_path, server):
    """Trial T's trap in this template too: `--models demo-small` alone varies only the prompt, so the printed
    commands said --config-cols prompt_name and export merged the two models. The label counts the version's
    stored configurations."""
    run_template(tmp_path, "--base-url", server.base_url)
    one = run_template(tmp_path, "--base-url", server.base_url, "--models", "demo-small")
    assert "--config-cols model,prompt_name --version e1" in one.stdout
    assert "--config-cols prompt_name " not in one.stdout
    # trial J: a later version of one model (a prompt added for it) kept no `model` in its tables
    later = run_template(tmp_path, "--base-url", server.base_url, "--models", "demo-small", "--experiment-version",
                         "e2")
    assert "--config-cols model,prompt_name --version e2" in later.stdout


def test_a_prompt_added_in_a_later_version_gets_a_planned_comparison_with_the_previous_best(tmp_path, server):
    """Trial G: "does the prompt added later beat the previous best?" is one planned comparison (a family of one),
    and the printed commands offered only every pair. Each new configuration gets it: by its columns when one of
    them differs from the previous best's, by config_id when both do (a repeated --filter on two columns would
    keep four configurations)."""
    first = run_template(tmp_path, "--base-url", server.base_url, "--prompts", "one_word")
    assert "planned:" not in first.stdout
    later = run_template(tmp_path, "--base-url", server.base_url, "--experiment-version", "e2")
    strict = dict(((m, p), v) for m, p, v in read_rows(
        tmp_path / "llm_bench.db", "SELECT model, prompt_name, AVG(CASE WHEN error = '' THEN correct_strict END) "
        "FROM predictions WHERE experiment_version = 'e2' AND prompt_name = 'one_word' GROUP BY 1, 2"))
    best = max(sorted(strict), key=strict.get)
    lines = later.stdout.splitlines()
    planned = [i for i, ln in enumerate(lines) if "  # planned: does " in ln]
    assert len(planned) == 2, later.stdout
    for at in planned:
        assert f"beat the previous best on correct_strict, model={best[0]}, prompt_name={best[1]}?" in lines[at]
        new = re.search(r"does model=([\w-]+), prompt_name=(\w+),", lines[at]).groups()
        assert new[1] == "open"
        words = shlex.split(lines[at + 1].strip())
        assert ("config_id=" in lines[at + 1]) == (new[0] != best[0]) and "--pairs" not in words
        assert "at alpha 0.025 (one of 2 planned" in lines[at] and words[-2:] == ["--alpha", "0.025"]
        proc = run_python(*words[1:], "--json", cwd=tmp_path)
        (version,) = json.loads(proc.stdout)["versions"]
        assert sorted((c["configuration"]["model"], c["configuration"]["prompt_name"])
                      for c in version["configurations"]) == sorted([best, new])
        assert {c["family_size"] for c in version["comparisons"]} == {1}


def test_reasoning_step_by_step_halves_the_stand_ins_errors_and_keeps_every_right_answer():
    """The stand-in's prompt effect, over 600 inputs per model: an item answered right stays right, about half the
    wrong ones turn right (REASONED_ERRORS), and the answer ends with the line parse_answer reads."""
    labels = {f"review number {k} of the test set": ("positive", "negative")[k % 2] for k in range(600)}
    with StandinServer(labels, latency_s=0.0, transient_failures=False) as srv:
        answers = {(model, prompt, text): srv._answer(model, prompt, f"Review: {text}")
                   for model in llm_standin_server.SKILL for text in labels
                   for prompt in ("Answer with one word: negative or positive.",
                                  "Think step by step, then end with 'Answer: <label>'.")}
    names = ["negative", "positive"]
    for model, skill in llm_standin_server.SKILL.items():
        plain, reasoned = {}, {}
        for text, truth in labels.items():
            for prompt, out in (("Answer with one word: negative or positive.", plain),
                                ("Think step by step, then end with 'Answer: <label>'.", reasoned)):
                label, _ = parse_answer(answers[(model, prompt, text)], names)
                out[text] = None if label is None else label == truth
        both = [t for t in labels if plain[t] is not None and reasoned[t] is not None]
        assert len(both) >= 0.9 * len(labels)
        assert all(reasoned[t] for t in both if plain[t])  # right stays right
        wrong = [t for t in both if not plain[t]]
        fixed = sum(reasoned[t] for t in wrong) / len(wrong)
        assert abs(fixed - (1 - llm_standin_server.REASONED_ERRORS)) < 4 * (0.25 / len(wrong)) ** 0.5, (model, fixed)
        assert abs(len(wrong) / len(both) - (1 - skill)) < 0.06, model  # the plain error rate, as set


def test_a_prompt_given_its_own_max_tokens_later_asks_only_itself_and_keeps_the_others_cached(tmp_path, server):
    """Trial G: MAX_TOKENS is in every request, so a step-by-step prompt added a week later that needs room would
    ask every prompt again, or run under another max_tokens. A third item in its PROMPTS entry gives it its own."""
    copy = edited_copy(tmp_path)
    first = run_template(tmp_path, "--base-url", server.base_url, "--prompts", "one_word", script=copy)
    source = copy.read_text()
    anchor = '    "open": ("You are a helpful assistant.",'
    copy.write_text(source.replace(anchor, '    "steps": ("Label the sentiment. Think step by step, then end with a '
                                           'line \'Answer: <label>\' ({labels}).", "Review: {text}", 64),\n' + anchor))
    later = run_template(tmp_path, "--base-url", server.base_url, "--prompts", "one_word,steps", "--experiment-version",
                         "e2", script=copy)
    assert printed_calls(first) >= 2 * N_ITEMS and 2 * N_ITEMS <= printed_calls(later) < 3 * N_ITEMS  # steps alone
    room = read_rows(tmp_path / "llm_bench.db", "SELECT prompt_name, max_tokens, COUNT(*), SUM(cache = '') FROM "
                     "predictions WHERE experiment_version = 'e2' GROUP BY 1, 2 ORDER BY 1")
    assert room == [("one_word", 32, 2 * N_ITEMS, 0), ("steps", 64, 2 * N_ITEMS, 2 * N_ITEMS)]


@pytest.mark.slow
def test_a_step_by_step_prompt_shows_a_paired_gain_and_its_price_through_the_template(tmp_path, server):
    """Trials S and U: the stand-in decided right and wrong by model and input alone, so a prompt could change only
    how often an answer parsed, and the demo could not show a prompt effect. A prompt asking to reason step by step
    (added to a copy's PROMPTS, as a user would) now gets more right, on the same inputs, for longer answers."""
    steps = ('"steps": ("You label the sentiment of product reviews. Think step by step, then end with a line '
             '\'Answer: <label>\' ({labels}).", "Review: {text}"),\n')
    copy = edited_copy(tmp_path)
    source = copy.read_text()
    anchor = '    "open": ("You are a helpful assistant.",'
    assert source.count(anchor) == 1
    copy.write_text(source.replace(anchor, "    " + steps + anchor))
    run_template(tmp_path, "--base-url", server.base_url, "--prompts", "one_word,steps", "--max-tokens", "64",
                 script=copy)
    rows = read_rows(tmp_path / "llm_bench.db", "SELECT model, prompt_name, input_id, correct, completion_tokens, "
                     "latency_s FROM predictions WHERE error = '' AND parse_ok = 1")
    by = {(m, p, i): (c, tokens, latency) for m, p, i, c, tokens, latency in rows}
    gained = 0
    for model in MODELS:
        plain = {i: by[(m, p, i)] for m, p, i in by if (m, p) == (model, "one_word")}
        reasoned = {i: by[(m, p, i)] for m, p, i in by if (m, p) == (model, "steps")}
        both = plain.keys() & reasoned.keys()
        assert len(both) >= N_ITEMS - 2
        assert all(reasoned[i][0] == 1 for i in both if plain[i][0] == 1)  # right stays right
        gained += sum(reasoned[i][0] - plain[i][0] for i in both)
        assert min(r[1] for r in reasoned.values()) > max(p[1] for p in plain.values())  # longer answers ...
        assert sorted(r[2] for r in reasoned.values())[len(reasoned) // 2] > \
            sorted(p[2] for p in plain.values())[len(plain) // 2]  # ... that take longer
    assert gained > 0

    def median_latency(model: str) -> float:  # trial Z: the larger model was no slower; it writes slower now
        times = sorted(latency for (m, p, _), (_, _, latency) in by.items() if (m, p) == (model, "steps"))
        return times[len(times) // 2]
    assert median_latency("demo-large") > median_latency("demo-small") + 0.03  # ~20 tokens x 2 ms more


def test_the_stand_in_run_alone_on_other_data_says_it_has_no_label_for_an_input(capsys):
    """Trial Z: run alone (the template's docs show `--port 8000`) it knows the demo data's answers only, and every
    other input came back unparseable without a word; it says so once, on stderr, naming --labels."""
    with StandinServer({"a known review": "positive"}, latency_s=0.0, transient_failures=False) as srv:
        assert srv._answer("demo-small", "Answer with one word.", "Review: a known review") == "positive"
        assert capsys.readouterr().err == ""
        for text in ("another review", "a third one"):
            assert srv._answer("demo-small", "Answer with one word.", f"Review: {text}").startswith("Hard to say")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no label for" in err and "--labels YOUR_DATA.jsonl" in err


def test_a_target_and_an_slo_in_the_edit_block_reach_the_printed_comparison_and_run_there(tmp_path, server):
    """Trial Z3 needed "at least 90 % and p95 under 150 ms" and added --target and --slo to the printed commands by
    hand. TARGET and SLO (or the flags) put them in every printed comparison, and the printed command judges them."""
    proc = run_template(tmp_path, "--base-url", server.base_url, "--limit", "8", "--target", "correct_strict>=0.5",
                        "--slo", "p95<5s")
    (line,) = [x for x in proc.stdout.splitlines() if "--pairs all --latency-col latency_s" in x
               and not x.rstrip().endswith(".csv") and "--within" not in x]
    assert "--target 'correct_strict>=0.5' --slo 'p95<5s' --pairs all" in line, line
    doc = json.loads(subprocess.run(shlex.split(line.strip()) + ["--json"], cwd=tmp_path, capture_output=True,
                                    text=True).stdout)
    configs = doc["versions"][0]["configurations"]
    assert {c["targets"][0]["target"] for c in configs} == {"correct_strict>=0.5"}
    assert all(c["slo"]["clauses"][0]["clause"] == "p95<5s" for c in configs)


def test_the_column_table_in_templates_md_names_only_columns_the_template_writes():
    # trial J looked for `label` (it is `ground_truth`): the documented table, checked against the real row
    line = next(x for x in (ROOT / "references" / "templates.md").read_text().splitlines()
                if x.startswith("| `predictions` | configuration x input |"))
    named = re.findall(r"`([a-z_0-9]+)`", line.split("|")[3])
    assert len(named) > 20 and set(named) <= row_columns("demo-small"), set(named) - row_columns("demo-small")
