"""Benchmark LLM models x prompt variants on a labelled dataset through any OpenAI-compatible endpoint.

Every (configuration, input) pair is asked exactly once over real HTTP (`POST {base_url}/chat/completions`):
OpenAI, vLLM, Ollama, llama.cpp server, LM Studio or a company gateway. A base model against its fine-tune
is the same comparison: pass both model names to --models; they answer the same inputs, so it is paired.

Run it:
    python llm_finetuning_template.py            # offline demo: starts a stand-in server on 127.0.0.1
    OPENAI_API_KEY=... python llm_finetuning_template.py --base-url https://api.openai.com/v1 \\
        --models gpt-4o-mini,ft:gpt-4o-mini:acme::abc123 --data items.jsonl
    python llm_finetuning_template.py --base-url http://localhost:11434/v1 --models llama3.2 --limit 6 \\
        --experiment-version dev                 # smoke run: 6 inputs spread over the labels
Copy benchkit.py beside it; the demo also needs llm_standin_server.py (a real endpoint does not).
Exit code: 0 every pair answered, 1 some calls failed (run again: only those are retried), 2 bad input.

Adapt it (everything is in the CONFIGURATION section):
    PROMPTS      the prompt variants ({text} is the input, {labels} the label set)
    MODELS       default model names (or --models)
    PRICES       USD per million prompt/completion tokens. The shipped values are EXAMPLES: edit them or
                 pass --prices FILE.json ({"model": [usd_per_1M_input, usd_per_1M_output], ...})
    DEMO_ITEMS   the embedded dataset (or --data FILE.jsonl with "id", "text", "label" per line)
    parse_answer how an answer becomes a label; a failure is recorded as such, never as right or wrong

What it writes (two tables in --db, default ./llm_bench.db):
    predictions  one row per call: configuration columns + config_id + input_id, the raw request and raw
                 response, parsed prediction, ground_truth, parse_ok/parse_error, correct (NULL when the
                 answer could not be parsed) and correct_strict (0 when unparsed), tokens, latency_s, cost_usd,
                 retries, cache (the run that made the call, '' when made now), error.
                 A row replayed from the cache keeps the original call's latency, tokens and retries.
    metrics      one row per configuration: accuracy over parsed answers and accuracy counting unparsed as
                 wrong, each with a 95% interval, parse failures, latency percentiles, tokens, cost (a new
                 row only when the numbers change; the latest row wins)
    Every row of both tables carries experiment_version (--experiment-version: "dev" while developing, a
    tag such as "e1" for the real run), the git commit of the current directory and the data fingerprint;
    the analysis scripts never pool versions.

Why it is built this way (xetrack 0.7.0):
    - Responses are cached in --cache-dir under a content hash of the endpoint, model, rendered messages
      and generation settings, so a new process re-asks nothing already answered, and editing one prompt
      re-asks only that prompt. xetrack's own cache keys use hash(), which changes in every process.
      The key cannot see new weights behind an unchanged model name and URL: use a new --cache-dir then.
    - HTTP runs in a thread pool; ONE thread (the main one) writes to the database. Several xetrack
      writers lose rows, and a SQLite Tracker cannot be shared across threads.
    - A call that fails after its retries raises: it becomes an error row, is not cached, and the next
      run retries only those calls. Rows already in the database are skipped (resume after a crash).
    - temperature > 0 answers are samples: the cache keeps the first. Add seeds (--seeds) for several.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import random
import re
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import diskcache
import httpx
import numpy as np
from benchkit import (
    completed,
    config_columns,
    config_id,
    fingerprint,
    loggable,
    progress,
    provenance,
    varying_columns,
)
from scipy.stats import binomtest
from xetrack import Tracker

# ============================================ CONFIGURATION ============================================


@dataclass(frozen=True)
class Prompt:
    name: str
    system: str
    user: str  # template: {text} is the input, {labels} the label set


@dataclass(frozen=True)
class Config:
    """Everything that determines an answer. Its content hash is `config_id`; each field is a column."""
    endpoint: str  # the base URL ('standin' for the demo): the same model name elsewhere is another system
    model: str
    prompt: Prompt
    temperature: float = 0.0
    max_tokens: int = 32
    seed: int = 0  # sent to the endpoint; different seeds are replicates of one configuration


@dataclass(frozen=True)
class Retry:
    max_retries: int = 5
    timeout_s: float = 60.0
    base_delay_s: float = 0.5  # exponential backoff: base * 2**attempt, with jitter, capped at max_delay_s
    max_delay_s: float = 60.0


@dataclass(frozen=True)
class Item:
    id: int | str
    text: str
    label: str


PROMPTS = (
    Prompt("one_word", "You label the sentiment of product reviews. Answer with one word: {labels}.",
           "Review: {text}\nSentiment:"),
    Prompt("open", "You are a helpful assistant.", "What is the sentiment ({labels}) of this review?\n{text}"),
)
MODELS = ("demo-small", "demo-large")
PRICES = {  # USD per 1M (prompt, completion) tokens. EXAMPLES only: edit them, or pass --prices FILE.json
    "demo-small": (0.10, 0.40),
    "demo-large": (1.00, 4.00),
    "gpt-4o-mini": (0.15, 0.60),
}
DEMO_ITEMS = tuple(Item(i, text, label) for i, (text, label) in enumerate([
    ("Arrived quickly and works exactly as described.", "positive"),
    ("Stopped charging after two days.", "negative"),
    ("The best headphones I have owned.", "positive"),
    ("Flimsy plastic, snapped on first use.", "negative"),
    ("Setup took five minutes and it just works.", "positive"),
    ("Customer support never answered my emails.", "negative"),
    ("Great value for the price.", "positive"),
    ("The colour is nothing like the photos.", "negative"),
    ("Battery lasts all week, very impressed.", "positive"),
    ("Loud fan, and it overheats constantly.", "negative"),
    ("My kids love it and use it every day.", "positive"),
    ("Returned it: the screen had dead pixels.", "negative"),
    ("Comfortable to wear for hours.", "positive"),
    ("Instructions were missing and parts did not fit.", "negative"),
    ("Sturdy, well made, and looks great.", "positive"),
    ("It broke the week the warranty ended.", "negative"),
    ("Exceeded my expectations in every way.", "positive"),
    ("Smells of chemicals even after washing.", "negative"),
    ("Fast, quiet and easy to clean.", "positive"),
    ("Would not buy again.", "negative"),
]))

# ======================================== SINGLE EXECUTION =============================================


class CallFailed(Exception):
    """Raised when a call cannot be answered; `attempts` says how many requests were made."""

    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


def request_body(config: Config, item: Item, labels: list[str]) -> dict:
    fill = {"text": item.text, "labels": " or ".join(labels)}
    return {"model": config.model,
            "messages": [{"role": "system", "content": config.prompt.system.format(**fill)},
                         {"role": "user", "content": config.prompt.user.format(**fill)}],
            "temperature": config.temperature, "max_tokens": config.max_tokens, "seed": config.seed}


def post_with_retries(client: httpx.Client, body: dict, retry: Retry) -> tuple[str, float, int]:
    """(raw response text, latency of the successful request in s, retries). Raises CallFailed."""
    for attempt in range(retry.max_retries + 1):
        wait, start = None, time.perf_counter()
        try:
            response = client.post("/chat/completions", json=body)
        except httpx.TransportError as exc:  # timeouts, refused or dropped connections
            problem = f"{type(exc).__name__}: {exc}"
        else:
            latency = time.perf_counter() - start
            if response.status_code == 200:
                return response.text, latency, attempt
            problem = f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"
            if response.status_code not in (408, 409, 429) and response.status_code < 500:
                raise CallFailed(problem, attempt + 1)  # bad request, auth, unknown model: retrying won't help
            wait = retry_after(response.headers)
        if attempt == retry.max_retries:
            raise CallFailed(f"gave up after {attempt + 1} attempts; last: {problem}", attempt + 1)
        if wait is None:  # exponential backoff with jitter, so parallel workers do not retry in lockstep
            wait = retry.base_delay_s * 2**attempt * random.uniform(0.5, 1.0)
        time.sleep(min(wait, retry.max_delay_s))
    raise AssertionError("unreachable")


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms` (OpenAI), or `Retry-After` seconds or date."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        if re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            return float(value)
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError):
        return None


def parse_answer(answer: str | None, labels: list[str]) -> tuple[str | None, str]:
    """(label, '') when exactly one label word appears in the answer, else (None, why it failed)."""
    text = (answer or "").lower()
    found = [label for label in labels if re.search(rf"\b{re.escape(label.lower())}\b", text)]
    if len(found) == 1:
        return found[0], ""
    return None, ("no label in the answer" if not found else f"several labels: {', '.join(found)}")


def ask(client: httpx.Client, cache: diskcache.Cache, config: Config, item: Item, labels: list[str],
        retry: Retry, run_id: str, prices: dict) -> dict:
    """One (configuration, input): the cached response if this exact request was answered before, else a
    real call. Runs in a worker thread; raises on failure so nothing wrong is cached."""
    body = request_body(config, item, labels)
    key = fingerprint(config.endpoint, body)  # content hash: process-independent, unlike hash()
    hit = cache.get(key)
    fresh = hit is None
    if fresh:
        raw, latency, retries = post_with_retries(client, body, retry)
        hit = {"raw": raw, "latency_s": latency, "retries": retries, "run": run_id}
    try:
        response = json.loads(hit["raw"])
        choice = response["choices"][0]
        answer = choice["message"].get("content")
        usage = response.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise CallFailed(f"unexpected response shape ({type(exc).__name__}): {hit['raw'][:200]}",
                         hit["retries"] + 1) from exc
    if fresh:  # only a well-formed answer is stored: every failure above raised before this line
        cache.set(key, hit)

    prediction, parse_error = parse_answer(answer, labels)
    if prediction is None and choice.get("finish_reason") == "length":
        parse_error += " (truncated: finish_reason=length, raise max_tokens)"
    row = {"raw_request": json.dumps(body), "raw_response": hit["raw"], "answer": answer or "",
           "prediction": prediction, "parse_ok": int(prediction is not None), "parse_error": parse_error,
           "correct": None if prediction is None else int(prediction == item.label),
           # the same, counting an unparseable answer as wrong: what a user of the model would get
           "correct_strict": int(prediction == item.label),
           "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
           "latency_s": hit["latency_s"], "retries": hit["retries"],
           "cache": "" if hit["run"] == run_id else hit["run"]}
    price = prices.get(config.model)
    if price and row["prompt_tokens"] is not None and row["completion_tokens"] is not None:
        row["cost_usd"] = (row["prompt_tokens"] * price[0] + row["completion_tokens"] * price[1]) / 1e6
    return row


# ============================================= THE LOOP ================================================


def run(configs: list[Config], items: list[Item], db: Path, cache_dir: Path, client: httpx.Client,
        retry: Retry, concurrency: int, version: dict, prices: dict) -> dict:
    """Ask every (configuration, input) not yet in the database; one writer, `concurrency` HTTP workers."""
    labels = sorted({item.label for item in items})
    tracker = Tracker(str(db), table="predictions", params=version)  # version columns on every row
    # Done = answered in this experiment version on this data: a new version gets its own full set of rows
    # (replayed from the response cache, so it costs no calls).
    done = completed(db, "predictions", ["config_id", "input_id", "data_fingerprint", "experiment_version"])
    todo = [(c, item) for c in configs for item in items
            if (config_id(c), item.id, version["data_fingerprint"], version["experiment_version"]) not in done]
    counts = {"skipped": len(configs) * len(items) - len(todo), "called": 0, "replayed": 0, "failed": 0}
    with diskcache.Cache(str(cache_dir)) as cache, ThreadPoolExecutor(concurrency) as pool:
        futures = {pool.submit(ask, client, cache, c, item, labels, retry, tracker.track_id, prices): (c, item)
                   for c, item in todo}
        try:
            for future in progress(as_completed(futures), total=len(futures), label="calls"):
                c, item = futures[future]
                row = {"config_id": config_id(c), **config_columns(c), "input_id": item.id,
                       "ground_truth": item.label}
                try:
                    row.update(future.result(), error="")
                    counts["replayed" if row["cache"] else "called"] += 1
                except Exception as exc:  # noqa: BLE001 - any failure becomes an error row; the run goes on
                    row.update(error=f"{type(exc).__name__}: {exc}", cache="",
                               retries=max(0, getattr(exc, "attempts", 1) - 1))
                    counts["failed"] += 1
                # None is left out: xetrack types a new column from its first value, and None makes it TEXT.
                tracker.log(loggable({k: v for k, v in row.items() if v is not None}))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return counts


# ============================================= SUMMARY =================================================


def summarise(configs: list[Config], n_items: int, db: Path, version: dict) -> list[dict]:
    """One row per configuration from the database (this run and earlier ones), logged to `metrics`."""
    con = sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True)
    rows = []
    try:
        columns = {r[1] for r in con.execute("SELECT * FROM pragma_table_info('predictions')")}
        # columns are created by the first value logged: absent if every call so far has failed
        select = ", ".join(n if n in columns else f"NULL AS {n}" for n in (
            "parse_ok", "correct", "latency_s", "prompt_tokens", "completion_tokens", "cost_usd", "retries"))
        for c in configs:
            got = con.execute(
                f"SELECT {select} FROM predictions WHERE config_id = ? AND data_fingerprint = ? "
                "AND experiment_version = ? AND (error IS NULL OR error = '')",
                [config_id(c), version["data_fingerprint"], version["experiment_version"]]).fetchall()
            rows.append({"config_id": config_id(c), **config_columns(c), **stats(got, n_items)})
    finally:
        con.close()
    key = ["config_id", "data_fingerprint", "experiment_version", "n_answered", "n_unanswered"]
    seen = completed(db, "metrics", key)
    tracker = Tracker(str(db), table="metrics", params=version)
    for row in rows:
        if tuple({**row, **version}[k] for k in key) not in seen:
            tracker.log(loggable({k: v for k, v in row.items() if v is not None}))
    return rows


def stats(got: list[tuple], n_items: int) -> dict:
    parsed = [r for r in got if r[0] == 1]
    k = sum(r[1] for r in parsed)
    latency = [r[2] for r in got if r[2] is not None]
    out = {"n_answered": len(got), "n_unanswered": n_items - len(got), "n_parse_failures": len(got) - len(parsed),
           # accuracy over parsed answers; parse failures are reported beside it, not counted as wrong
           "accuracy": k / len(parsed) if parsed else None,
           "accuracy_if_unparsed_wrong": k / len(got) if got else None,
           "prompt_tokens_total": sum(r[3] or 0 for r in got), "completion_tokens_total": sum(r[4] or 0 for r in got),
           "cost_usd_total": sum(r[5] or 0.0 for r in got) if any(r[5] is not None for r in got) else None,
           "retries_total": sum(r[6] or 0 for r in got)}
    if parsed:
        ci = binomtest(k, len(parsed)).proportion_ci(method="wilson")
        out.update(accuracy_low95=ci.low, accuracy_high95=ci.high)
    if got:
        ci = binomtest(k, len(got)).proportion_ci(method="wilson")
        out.update(accuracy_if_unparsed_wrong_low95=ci.low, accuracy_if_unparsed_wrong_high95=ci.high)
    if latency:
        out.update({f"latency_p{p}_s": float(np.percentile(latency, p)) for p in (50, 90, 99)})
    return out


def print_summary(rows: list[dict], counts: dict, db: Path, cache_dir: Path, configs: list[Config],
                  example_prices: bool) -> None:
    def pct(x):
        return "   -  " if x is None else f"{100 * x:5.1f}%"

    def with_ci(r, name):
        low, high = r.get(f"{name}_low95"), r.get(f"{name}_high95")
        return f"{pct(r[name])} [{pct(low)},{pct(high)}]" if low is not None else f"{pct(r[name]):>24}"

    # answered = calls with a response; parsed = answers holding exactly one label. Two accuracies, because
    # neither alone is honest: over parsed answers hides the unparseable ones, strict counts them as wrong.
    print(f"\n{'model':<22} {'prompt':<10} {'answered':>8} {'parsed':>6} {'accuracy of parsed [95% CI]':>27} "
          f"{'strict: unparsed=wrong [95% CI]':>31} {'p50 s':>6} {'cost $':>9}")
    for r in rows:
        cost = "-" if r["cost_usd_total"] is None else f"{r['cost_usd_total']:.5f}"
        p50 = f"{r['latency_p50_s']:.3f}" if "latency_p50_s" in r else "-"
        print(f"{r['model'][:22]:<22} {r['prompt_name'][:10]:<10} {r['n_answered']:>8} "
              f"{r['n_answered'] - r['n_parse_failures']:>6} {with_ci(r, 'accuracy'):>27} "
              f"{with_ci(r, 'accuracy_if_unparsed_wrong'):>31} {p50:>6} {cost:>9}")
    if example_prices:
        print("cost_usd uses the example PRICES table; edit PRICES or pass --prices FILE.json")
    print(f"\ncalls made now: {counts['called']}, replayed from the response cache: {counts['replayed']}, "
          f"already in the database: {counts['skipped']}, failed: {counts['failed']}")
    unanswered = sum(r["n_unanswered"] for r in rows)
    if unanswered:
        print(f"{unanswered} (configuration, input) pairs have no answer yet: run again to retry only those.")
    # Only the columns that tell configurations apart: a label with the prompt texts would be unreadable.
    label = ",".join(varying_columns(configs, exclude=["seed"]) or ["model"])  # seed: a replicate
    print(f"\ndatabase: {db}   (tables: predictions, metrics; response cache: {cache_dir})")
    print("next:")
    print(f"  python scripts/validate_benchmark.py {db} predictions")
    print(f"  python scripts/export_summary.py {db} predictions --config-cols {label}")
    print(f"  python scripts/export_summary.py {db} predictions --config-cols {label} --metric correct_strict:higher")


# =============================================== CLI ===================================================


def load_items(path: Path) -> list[Item]:
    """JSONL: one {"id": ..., "text": ..., "label": ...} per line (id defaults to the line number)."""
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [Item(r.get("id", i), str(r["text"]), str(r["label"])) for i, r in enumerate(rows)]


def stratified_subset(items: list[Item], limit: int | None) -> list[Item]:
    """The first `limit` items of a round-robin over the labels, each label's items in id order.

    The first N lines of a file are often all one label (sorted data): a smoke run on them cannot tell a
    model from one that always answers that label. The subset is deterministic, so reruns share rows.
    """
    if limit is None or limit >= len(items):
        return list(items)
    order = sorted(range(len(items)), key=lambda k: (isinstance(items[k].id, str), items[k].id))  # 2 < 10
    queues = {label: [k for k in order if items[k].label == label] for label in sorted({i.label for i in items})}
    chosen: list[int] = []
    for rank in range(len(items)):
        chosen += [queue[rank] for queue in queues.values() if rank < len(queue)]
        if len(chosen) >= limit:
            break
    position = {k: rank for rank, k in enumerate(order)}
    return [items[k] for k in sorted(chosen[:limit], key=position.__getitem__)]


def load_prices(path: Path | None) -> tuple[dict, bool]:
    """(prices, whether they are the shipped examples). The file: {"model": [usd_per_1M_in, usd_per_1M_out]}."""
    if path is None:
        return dict(PRICES), True
    table = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(table, dict) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and x >= 0 for x in v)
            for v in table.values()):
        raise ValueError('expected {"model": [usd_per_million_input, usd_per_million_output], ...}')
    return {str(model): (float(v[0]), float(v[1])) for model, v in table.items()}, False


@contextmanager
def endpoint(base_url: str | None, items: list[Item]):
    """(base URL, endpoint name): the given one, or the loopback stand-in server for the offline demo."""
    if base_url:
        yield base_url.rstrip("/"), base_url.rstrip("/")
        return
    from llm_standin_server import StandinServer  # demo only: a real endpoint needs just this file + benchkit

    with StandinServer({item.text: item.label for item in items}) as server:
        yield server.base_url, "standin"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, like the scripts: no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="llm_finetuning_template.py", description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1 or "
                        "http://localhost:8000/v1 (default: start the offline stand-in server)")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                        help="environment variable holding the API key (default: %(default)s; unset = no key)")
    parser.add_argument("--models", help=f"comma-separated model names (default: {','.join(MODELS)})")
    parser.add_argument("--prompts", help=f"comma-separated prompt names (default: all of "
                        f"{','.join(p.name for p in PROMPTS)})")
    parser.add_argument("--temperature", type=float, default=Config.temperature, help="default: %(default)s")
    parser.add_argument("--max-tokens", type=int, default=Config.max_tokens, help="default: %(default)s")
    parser.add_argument("--seeds", type=int, default=1, help="replicates per configuration (seeds 0..N-1)")
    parser.add_argument("--data", type=Path, help="JSONL dataset with id/text/label (default: the embedded demo)")
    parser.add_argument("--limit", type=int, help="smoke run on N inputs: a fixed subset taken round-robin over "
                        "the labels, in id order (not the first N lines)")
    parser.add_argument("--experiment-version", default="e1", metavar="VALUE",
                        help='logged on every row of both tables; use "dev" while developing and a tag such as '
                        '"e1" for the real run: the scripts never pool versions (default: %(default)s)')
    parser.add_argument("--prices", type=Path, metavar="FILE.json",
                        help='USD per million tokens, {"model": [input, output], ...} (default: the example '
                        "PRICES table in this file)")
    parser.add_argument("--db", type=Path, default=Path("llm_bench.db"), help="default: %(default)s")
    parser.add_argument("--cache-dir", type=Path, default=Path("llm_cache"),
                        help="response cache shared by runs and processes (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel HTTP requests (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=Retry.timeout_s, help="seconds per request (default: %(default)s)")
    parser.add_argument("--max-retries", type=int, default=Retry.max_retries,
                        help="retries on 429/5xx/timeouts before the call is an error row (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("limit", "concurrency", "seeds"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not args.experiment_version.strip():
        parser.error("--experiment-version must not be empty")
    if args.max_retries < 0 or args.timeout <= 0:
        parser.error("--max-retries must be >= 0 and --timeout > 0")
    if args.base_url and not re.match(r"https?://", args.base_url):
        parser.error(f"--base-url must start with http:// or https://, got {args.base_url!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    """0 when every (configuration, input) has an answer, 1 when some calls failed (re-run to retry only
    those), 2 on bad input."""
    args = parse_args(argv)
    try:
        all_items = load_items(args.data) if args.data else list(DEMO_ITEMS)
    except (OSError, ValueError, KeyError) as exc:
        return fail(f"cannot read --data {args.data}: {exc}")
    items = stratified_subset(all_items, args.limit)
    try:
        prices, example_prices = load_prices(args.prices)
    except (OSError, ValueError) as exc:
        return fail(f"cannot read --prices {args.prices}: {exc}")
    prompts = [p for p in PROMPTS if not args.prompts or p.name in args.prompts.split(",")]
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else list(MODELS)
    if not prompts or not items or not models:
        return fail("no models, prompts or inputs selected")
    if args.db.is_file() and args.db.stat().st_size:
        with args.db.open("rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                return fail(f"--db {args.db}: file is not a database (xetrack writes SQLite files)")
    for model in models:
        if model not in prices:
            print(f"note: no price for {model!r} in {args.prices or 'PRICES'}: its cost_usd stays empty",
                  file=sys.stderr)
    retry = Retry(max_retries=args.max_retries, timeout_s=args.timeout)
    # The fingerprint covers the whole dataset, so a --limit smoke run and the full run share rows.
    # The git commit of the current directory: the user's project, not the folder this template sits in.
    version = provenance(data_fingerprint=fingerprint([vars(i) for i in all_items]), root=Path.cwd(),
                         experiment_version=args.experiment_version)
    key = os.environ.get(args.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    try:
        with endpoint(args.base_url, items) as (url, name), \
                httpx.Client(base_url=url, headers=headers, timeout=retry.timeout_s, limits=limits) as client:
            try:  # a wrong URL would otherwise cost every call its full retry budget
                client.get("/models")
            except httpx.TransportError as exc:
                return fail(f"cannot reach {url}: {type(exc).__name__}: {exc}")
            configs = [Config(name, m, p, args.temperature, args.max_tokens, s)
                       for m in models for p in prompts for s in range(args.seeds)]
            counts = run(configs, items, args.db, args.cache_dir, client, retry, args.concurrency, version, prices)
        rows = summarise(configs, len(items), args.db, version)
    except sqlite3.DatabaseError as exc:
        return fail(f"--db {args.db}: {exc}")
    uses_examples = example_prices and any(m in prices for m in models)
    print_summary(rows, counts, args.db, args.cache_dir, configs, uses_examples)
    return 1 if any(r["n_unanswered"] for r in rows) else 0


def fail(message: str) -> int:
    print(f"llm_finetuning_template.py: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
