"""Benchmark LLM models x prompt variants on a labelled dataset through any OpenAI-compatible endpoint.

Edit the EDIT block below (endpoint, data, prompts, parse_answer, models, defaults), then run:
    python llm_finetuning_template.py                  # BASE_URL = None: offline demo on a loopback stand-in
    OPENAI_API_KEY=... python llm_finetuning_template.py --base-url https://api.openai.com/v1 --models gpt-4o-mini
    python llm_finetuning_template.py --limit 6 --experiment-version dev   # smoke run: 6 inputs over the labels
    python llm_finetuning_template.py --shard 2/4   # a 4th of the pairs, into llm_bench.shard-2-of-4.db
Writes --db (`predictions`: a row per configuration and input; `metrics`: a row per configuration) and a
response cache (--cache-dir) keyed by a content hash of each request, so a re-run makes no HTTP call.
A call is an HTTP request made now; a cache hit is not a call (`cache` names the run that made it).
Copy benchkit.py beside it; the demo also needs llm_standin_server.py and llm_demo_data.jsonl.
Exit code: 0 every pair answered, 1 some calls failed (run again: only those are retried), 2 bad input.
Why it is built this way (xetrack 0.7.0): the comments beside the code, and references/templates.md.
"""

from __future__ import annotations

import argparse
import email.utils
import functools
import json
import os
import random
import re
import sqlite3
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import benchkit as bk
import diskcache
import httpx
import numpy as np
from scipy.stats import binomtest
from xetrack import Tracker

# ==================================== EDIT: the one block to change =====================================
# Point the benchmark at your endpoint, data and models here; the flags of the same names override them.
BASE_URL = None  # None: the offline demo stand-in; e.g. "https://api.openai.com/v1", "http://localhost:11434/v1"
API_KEY_ENV = "OPENAI_API_KEY"  # environment variable holding the key (sent as a Bearer token); unset: no key
DATA = Path(__file__).with_name("llm_demo_data.jsonl")  # JSONL, {"id", "text", "label", any field to slice by}
MODELS = ("demo-small", "demo-large")  # e.g. a base model and its fine-tune: same inputs, a paired comparison
PROMPTS = {  # name: (system, user[, max_tokens]); {text}: the input, {labels}: the label set ("negative or positive")
    "one_word": ("You label the sentiment of product reviews. Answer with one word: {labels}.",
                 "Review: {text}\nSentiment:"),
    "open": ("You are a helpful assistant.", "What is the sentiment ({labels}) of this review?\n{text}"),
}
PRICES = {  # USD per 1M (prompt, completion) tokens. EXAMPLES only: edit them, or pass --prices FILE.json
    "demo-small": (0.10, 0.40), "demo-large": (1.00, 4.00), "gpt-4o-mini": (0.15, 0.60)}
TEMPERATURE, MAX_TOKENS, SEEDS = 0.0, 32, 1  # SEEDS > 1: replicates, seeds 0..N-1 sent to the endpoint
DB, CACHE_DIR, EXPERIMENT_VERSION = "llm_bench.db", "llm_cache", "e1"  # version: "dev" while developing
CONCURRENCY, TIMEOUT_S, MAX_RETRIES = 4, 60.0, 5  # parallel requests; seconds per request; retries on 429/5xx
TARGET, SLO = None, None  # bars the printed report judges, e.g. "correct_strict>=0.9" and "p95<150ms" (per call)


def parse_answer(answer: str | None, labels: list[str]) -> tuple[str | None, str]:
    """(label, '') when exactly one label word appears in the answer, or in its last "Answer: ..." line (a
    prompt that reasons step by step names both labels on the way: ask it to end with "Answer: <label>"),
    else (None, why it failed).

    A failure is recorded as such, never as right or wrong. Cached answers are parsed again on replay: after
    editing this, run with a new --experiment-version to re-score every answer without a call."""
    text = (answer or "").lower()
    marked = re.findall(r"\banswer\s*:\s*([^\n]*)", text)
    for part in ([marked[-1]] if marked else []) + [text]:
        found = [label for label in labels if re.search(rf"\b{re.escape(label.lower())}\b", part)]
        if len(found) == 1:
            return found[0], ""
    return None, ("no label in the answer" if not found else f"several labels: {', '.join(found)}")
# ================================================ END EDIT ===================================================

# Mixed into every response-cache key. Bump it when what a cached entry means changes; a change to the
# fields of `Answer` (what the cache stores) changes the key by itself, so old entries are asked again
# instead of replayed without the new field. CHANGES: 2 = attempts recorded, secrets redacted.
TEMPLATE_VERSION = "2"


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
    max_retries: int = MAX_RETRIES
    timeout_s: float = TIMEOUT_S
    base_delay_s: float = 0.5  # exponential backoff: base * 2**attempt, with jitter, capped at max_delay_s
    max_delay_s: float = 60.0


@dataclass(frozen=True)
class Item:
    id: int | str
    text: str
    label: str
    fields: tuple = ()  # the line's other fields, (name, value) pairs: columns on each of its rows (a slice)

    def record(self) -> dict:
        """The input as its line gave it: what the data fingerprint covers."""
        return {"id": self.id, "text": self.text, "label": self.label, **dict(self.fields)}


@dataclass(frozen=True)
class Answer:
    """What the response cache keeps for one request: only a well-formed answer, secrets redacted."""
    raw: str  # the response body
    latency_s: float  # of the request that succeeded
    attempts: str  # the status or error class of every request made for it, e.g. "429,200"
    run: str  # the run (track_id) that made the requests


CACHE_SALT = bk.fingerprint(TEMPLATE_VERSION, [f.name for f in fields(Answer)])

# ============================================== SECRETS ==================================================
# Some servers and proxies quote the request, headers included, in their error bodies. Everything stored
# (rows, the response cache) or printed goes through `redact`: the key itself, auth headers in any quoting
# (HTTP, JSON, Python repr), bearer tokens, sk-... keys, credentials in URLs.
_SECRETS: list[str] = []  # the configured key (set in main); replaced wherever it appears
_SECRET_PATTERNS = [  # (pattern, replacement): header values in "name: value", JSON and ('name', 'value') form
    (re.compile(r"(?i)(\b(?:proxy-)?authorization|\b[\w-]*api[-_]?key)((?:[\"']?\s*[:=]|[\"']\s*,)\s*(?:(?-i:b)?[\"'])?)"
                r"((?:bearer|basic|token)\s+)?(?!\[REDACTED|(?:bearer|basic|token)\s+\[REDACTED|(?-i:b)[\"'])[^\s\"',;}\]\\]+"),
     lambda m: f"{m[1]}{m[2]}{m[3] or ''}[REDACTED]"),
    (re.compile(r"(?i)\bbearer\s+[\w.~+/=-]{6,}"), "Bearer [REDACTED]"),
    (re.compile(r"\bsk-[\w-]{6,}"), "sk-[REDACTED]"),
    (re.compile(r"(?i)([?&](?:key|api[-_]?key|token|access_token|sig)=)[^&\s\"']+"), r"\1[REDACTED]"),
    (re.compile(r"(?<=://)[^/@\s\"']+(?=@)"), "[REDACTED]"),  # https://user:password@host
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in _SECRETS:
        text = text.replace(secret, "[REDACTED]")
    return text


# ========================================== SINGLE EXECUTION =============================================


class CallFailed(Exception):
    """A call that got no usable answer; `attempts` lists the status or error class of each request made."""

    def __init__(self, message: str, attempts: list[str], waited_s: float | None = None):
        super().__init__(redact(message))
        self.attempts = attempts
        self.waited_s = waited_s  # from the first request until giving up, backoff included


def request_body(config: Config, item: Item, labels: list[str]) -> dict:
    fill = {"text": item.text, "labels": " or ".join(labels)}
    return {"model": config.model,
            "messages": [{"role": "system", "content": config.prompt.system.format(**fill)},
                         {"role": "user", "content": config.prompt.user.format(**fill)}],
            "temperature": config.temperature, "max_tokens": config.max_tokens, "seed": config.seed}


def post_with_retries(client: httpx.Client, body: dict, retry: Retry) -> tuple[str, float, list[str], float]:
    """(raw response text, latency of the successful request in s, status/error class of every request, what
    the caller waited in s: every request and the backoff between them).

    The retry loop is ours, not the client's, so every request is seen and recorded. Raises CallFailed, with
    the time waited until giving up."""
    attempts: list[str] = []
    first = time.perf_counter()
    try:
        return _post_until_answered(client, body, retry, attempts) + (time.perf_counter() - first,)
    except CallFailed as exc:
        exc.waited_s = time.perf_counter() - first
        raise


def _post_until_answered(client: httpx.Client, body: dict, retry: Retry, attempts: list[str]) -> tuple:
    """The retry loop of post_with_retries: (raw, latency of the answering request, attempts)."""
    for attempt in range(retry.max_retries + 1):
        wait, start = None, time.perf_counter()
        try:
            response = client.post("/chat/completions", json=body)
        except httpx.HTTPError as exc:  # timeouts, refused or dropped connections, protocol errors
            attempts.append(type(exc).__name__)
            problem = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, httpx.TransportError):
                raise CallFailed(problem, attempts) from None
        else:
            latency = time.perf_counter() - start
            attempts.append(str(response.status_code))
            if response.status_code == 200:
                return redact(response.text), latency, attempts
            # redacted before it is cut short, so a cut cannot leave half a key behind
            problem = redact(f"HTTP {response.status_code}: {' '.join(response.text.split())}")[:300]
            if response.status_code not in (408, 409, 429) and response.status_code < 500:
                raise CallFailed(problem, attempts)  # bad request, auth, unknown model: retrying won't help
            wait = retry_after(response.headers)
        if attempt == retry.max_retries:
            raise CallFailed(f"gave up after {attempt + 1} attempts; last: {problem}", attempts)
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


def read_response(raw: str) -> tuple[dict, dict]:
    """(the first choice, usage) of a chat-completions response; ValueError when it is not one."""
    try:
        response = json.loads(raw)
        choice = response["choices"][0]
        choice["message"].get("content")
        return choice, response.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"unexpected response shape ({type(exc).__name__}): {raw[:200]}") from exc


class Calls:
    """The only way a request leaves: the response cache first, then one request per distinct content.

    Keys are content hashes of the endpoint, model, rendered messages and settings (plus CACHE_SALT), so a
    new process re-asks nothing already answered and editing one prompt re-asks only that prompt
    (xetrack's own cache keys use hash(), which changes in every process). Identical requests in flight at
    once are sent once: the others wait for that answer and are hits. A failure is never cached; the
    requests waiting on it fail too, without a request of their own, and the next run retries them all.
    The key cannot see new weights behind an unchanged model name and URL: use a new --cache-dir then.
    """

    def __init__(self, client: httpx.Client, cache: diskcache.Cache, retry: Retry, run_id: str):
        self.client, self.cache, self.retry, self.run_id = client, cache, retry, run_id
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future] = {}

    def get(self, key: str, body: dict) -> tuple[Answer, bool, float | None]:
        """(the answer, whether requests were made now for it, what the caller waited for them: every request
        and the backoff, None on a hit). Raises CallFailed."""
        with self._lock:
            flight = self._in_flight.get(key)
            leader = flight is None
            if leader:
                stored = self.cache.get(key)
                if isinstance(stored, dict) and set(stored) == {f.name for f in fields(Answer)}:
                    return Answer(**stored), False, None
                flight = self._in_flight[key] = Future()
        if not leader:
            try:
                return flight.result(), False, None
            except CallFailed as exc:
                raise CallFailed(f"not sent: the identical request failed in this run: {exc}", []) from None
        try:
            raw, latency, attempts, waited = post_with_retries(self.client, body, self.retry)
            try:
                read_response(raw)
            except ValueError as exc:
                raise CallFailed(str(exc), attempts, waited) from None
            answer = Answer(raw, latency, ",".join(attempts), self.run_id)
            self.cache.set(key, asdict(answer))  # only a well-formed answer is stored
            flight.set_result(answer)
            return answer, True, waited
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._in_flight[key]


def attempt_columns(attempts: list[str]) -> dict:
    """Requests made now for one row, by class, so a 429 can be told from a 500 or a timeout."""
    codes = [int(a) if a.isdigit() else None for a in attempts]
    return {"attempts": ",".join(attempts), "n_requests": len(attempts), "retries": max(0, len(attempts) - 1),
            "n_429": codes.count(429), "n_5xx": sum(1 for c in codes if c and c >= 500),
            "n_4xx_other": sum(1 for c in codes if c and 400 <= c < 500 and c != 429),
            "n_timeouts": sum(1 for a in attempts if "Timeout" in a),
            "n_network_errors": sum(1 for a, c in zip(attempts, codes, strict=True) if c is None and "Timeout" not in a)}


# One row per (configuration, input) in `predictions`: configuration columns + config_id + input_id, the
# request_key (content hash of the request: rows with the same key got the same answer), raw request and
# response, parsed prediction, ground_truth, parse_ok/parse_error, correct (NULL when unparsed) and
# correct_strict (0 when unparsed), tokens, latency_s (the request that answered), wait_s (what the caller
# waited: every request and the backoff, on failed rows until giving up; NULL on a hit), cost_usd, and the
# accounting: `cache` ('' when this
# row's requests were made now, else the run that made them: this run for a repeated input, an earlier one
# otherwise), `attempts` ("429,200": every request made now, '' on a hit), n_requests, retries and counts by
# class (n_429, n_5xx, n_4xx_other, n_timeouts, n_network_errors). A hit keeps the answer's latency and
# tokens, never its requests: summed over rows, n_requests is what the endpoint received.
ASKED_COLUMNS = ("request_key", "raw_request", "error", "cache", "wait_s", "raw_response", "answer", "prediction",
                 "parse_ok", "parse_error", "correct", "correct_strict", "prompt_tokens", "completion_tokens",
                 "latency_s", "cost_usd")  # what ask() returns, besides attempt_columns()


def row_columns(model: str) -> set[str]:
    """Every column of a predictions row but the version's: an input's own fields must not take their names."""
    config = Config("endpoint", model, Prompt("name", "system", "user"))
    return {"config_id", "input_id", "ground_truth", "track_id", "timestamp", *bk.config_columns(config),
            *attempt_columns([]), *ASKED_COLUMNS}


def ask(calls: Calls, config: Config, item: Item, labels: list[str], prices: dict) -> dict:
    """One (configuration, input), answered from the cache or by a call. Runs in a worker thread."""
    body = request_body(config, item, labels)
    key = bk.fingerprint(CACHE_SALT, config.endpoint, body)  # content hash: process-independent
    row = {"request_key": key, "raw_request": redact(json.dumps(body))}
    try:
        answer, now, waited = calls.get(key, body)
    except CallFailed as exc:
        return {**row, "error": f"CallFailed: {exc}", "cache": "", "wait_s": exc.waited_s,
                **attempt_columns(exc.attempts)}
    row.update(cache="" if now else answer.run, **attempt_columns(answer.attempts.split(",") if now else []))
    choice, usage = read_response(answer.raw)
    text = choice["message"].get("content")
    try:
        prediction, parse_error = parse_answer(text, labels)
    except Exception as exc:  # noqa: BLE001 - the answer is cached: fix parse_answer, run again, no call
        return {**row, "error": redact(f"parse_answer raised {type(exc).__name__}: {exc}")}
    if prediction is None and choice.get("finish_reason") == "length":
        parse_error += " (truncated: finish_reason=length, raise max_tokens)"
    row.update({"raw_response": answer.raw, "answer": text or "", "prediction": prediction,
                "parse_ok": int(prediction is not None), "parse_error": parse_error,
                "correct": None if prediction is None else int(prediction == item.label),
                # the same, counting an unparseable answer as wrong: what a user of the model would get
                "correct_strict": int(prediction == item.label),
                "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
                "latency_s": answer.latency_s, "wait_s": waited, "error": ""})
    price = prices.get(config.model)
    if price and row["prompt_tokens"] is not None and row["completion_tokens"] is not None:
        row["cost_usd"] = (row["prompt_tokens"] * price[0] + row["completion_tokens"] * price[1]) / 1e6
    return row


# ============================================== THE LOOP =================================================


def owned(configs: list[Config], items: list[Item], shard: bk.Shard | None) -> list[tuple[Config, Item]]:
    """The (configuration, input) pairs this run asks: all of them, or this shard's by a content hash."""
    pairs = [(c, item) for c in configs for item in items]
    return [(c, i) for c, i in pairs if shard is None or shard.owns((bk.config_id(c), i.id))]


class VersionDrift(Exception):
    """The rows this run would add belong to another version than the stored rows of its --experiment-version."""


def run(pairs: list[tuple[Config, Item]], labels: list[str], db: Path, cache_dir: Path, client: httpx.Client,
        retry: Retry, concurrency: int, version: dict, prices: dict, add_to_version: bool = False) -> dict:
    """Ask every (configuration, input) not yet in the database; one writer, `concurrency` HTTP workers.

    HTTP runs in a thread pool; ONE thread (this one) writes to the database: several xetrack writers lose
    rows, and a SQLite Tracker cannot be shared across threads. Rows already in the database are skipped
    (resume after a crash)."""
    # Done = answered in this experiment version on this data: a new version gets its own full set of rows
    # (replayed from the response cache, so it costs no calls).
    done = bk.completed(db, "predictions", ["config_id", "input_id", "data_fingerprint", "experiment_version"])
    todo = [(c, item) for c, item in pairs
            if (bk.config_id(c), item.id, version["data_fingerprint"], version["experiment_version"]) not in done]
    drift = bk.version_drift(db, "predictions", version) if todo else None
    if drift and not add_to_version:  # new rows would be reported apart: stop before any call or row (trial X)
        raise VersionDrift(drift)
    if drift:
        print(f"{Path(__file__).name}: warning: {drift}", file=sys.stderr)
    tracker = Tracker(str(db), table="predictions", params=version)  # version columns on every row
    counts = {"skipped": len(pairs) - len(todo), "answered_now": 0, "hits_this_run": 0,
              "hits_earlier": 0, "failed": 0, "requests": 0, "by_class": {}, "errors": {}}
    with diskcache.Cache(str(cache_dir)) as cache, ThreadPoolExecutor(concurrency) as pool:
        calls = Calls(client, cache, retry, tracker.track_id)
        futures = {pool.submit(ask, calls, c, item, labels, prices): (c, item) for c, item in todo}
        try:
            for future in bk.progress(as_completed(futures), total=len(futures), label="pairs"):
                c, item = futures[future]
                row = {"config_id": bk.config_id(c), **bk.config_columns(c), "input_id": item.id,
                       "ground_truth": item.label, **dict(item.fields)}
                try:
                    row.update(future.result())
                except Exception as exc:  # noqa: BLE001 - a bug in a prompt or parser: an error row, no request
                    row.update(error=redact(f"{type(exc).__name__}: {exc}"), cache="", **attempt_columns([]))
                tally(counts, row, tracker.track_id)
                # None is left out: xetrack types a new column from its first value, and None makes it TEXT.
                tracker.log(bk.loggable({k: v for k, v in row.items() if v is not None}))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return counts


def tally(counts: dict, row: dict, run_id: str) -> None:
    counts["requests"] += row["n_requests"]
    for attempt in filter(None, row["attempts"].split(",")):
        counts["by_class"][attempt] = counts["by_class"].get(attempt, 0) + 1
    if row["error"]:
        counts["failed"] += 1
        counts["errors"][row["error"]] = counts["errors"].get(row["error"], 0) + 1
    else:
        counts["answered_now" if not row["cache"] else
               "hits_this_run" if row["cache"] == run_id else "hits_earlier"] += 1


# ============================================== SUMMARY ==================================================

SUMMARY_COLUMNS = ("parse_ok", "correct", "latency_s", "prompt_tokens", "completion_tokens", "cost_usd",
                   "retries", "n_requests", "cache")


def summarise(configs: list[Config], pairs: list[tuple[Config, Item]], db: Path, version: dict) -> list[dict]:
    """One row per configuration from the database (this run and earlier ones), logged to `metrics`; under
    --shard, over this shard's inputs of each configuration."""
    expected = {bk.config_id(c): 0 for c in configs}
    for c, _ in pairs:
        expected[bk.config_id(c)] += 1
    con = bk.connect_readonly(db)
    rows = []
    try:
        columns = {r[1] for r in con.execute("SELECT * FROM pragma_table_info('predictions')")}
        # columns are created by the first value logged: absent if every call so far has failed
        select = ", ".join(n if n in columns else f"NULL AS {n}" for n in SUMMARY_COLUMNS)
        for c in configs:
            got = con.execute(
                f"SELECT {select} FROM predictions WHERE config_id = ? AND data_fingerprint = ? "
                "AND experiment_version = ? AND (error IS NULL OR error = '')",
                [bk.config_id(c), version["data_fingerprint"], version["experiment_version"]]).fetchall()
            rows.append({"config_id": bk.config_id(c), **bk.config_columns(c),
                         **stats(got, expected[bk.config_id(c)])})
    finally:
        con.close()
    key = ["config_id", "data_fingerprint", "experiment_version", "n_answered", "n_unanswered"]
    seen = bk.completed(db, "metrics", key)
    tracker = Tracker(str(db), table="metrics", params=version)
    for row in rows:
        if tuple({**row, **version}[k] for k in key) not in seen:
            tracker.log(bk.loggable({k: v for k, v in row.items() if v is not None}))
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
           # requests behind these answers (failed attempts of calls that later failed are not here)
           "retries_total": sum(r[6] or 0 for r in got), "n_requests_total": sum(r[7] or 0 for r in got),
           "n_cache_hits": sum(1 for r in got if r[8])}
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
                  example_prices: bool, experiment_version: str, shard: bk.Shard | None = None,
                  bars: tuple = (), slices: dict | None = None) -> None:
    """The run's table, then the commands for the next steps; `bars`: --target/--slo arguments the comparison and
    the results table judge (trial Z3 added them to the printed commands by hand); `slices`: the columns of the
    inputs' own fields (as stored) and their values (item_slices): each gets a `--by` command and its table."""
    def pct(x):
        return "   -  " if x is None else f"{100 * x:5.1f}%"

    def with_ci(r, name):
        low, high = r.get(f"{name}_low95"), r.get(f"{name}_high95")
        return f"{pct(r[name])} [{pct(low)},{pct(high)}]" if low is not None else f"{pct(r[name]):>24}"

    # answered = calls with a response; parsed = answers holding exactly one label. Two accuracies, because
    # neither alone is honest: over parsed answers hides the unparseable ones, strict counts them as wrong.
    wm = max([22, *(len(r["model"]) for r in rows)])  # names whole: two prompts may share a prefix (trial S)
    wp = max([10, *(len(r["prompt_name"]) for r in rows)])
    print(f"\n{'model':<{wm}} {'prompt':<{wp}} {'answered':>8} {'parsed':>6} {'accuracy of parsed [95% CI]':>27} "
          f"{'strict: unparsed=wrong [95% CI]':>31} {'p50 s':>6} {'cost $':>9}")
    for r in rows:
        cost = "-" if r["cost_usd_total"] is None else f"{r['cost_usd_total']:.5f}"
        p50 = f"{r['latency_p50_s']:.3f}" if "latency_p50_s" in r else "-"
        print(f"{r['model']:<{wm}} {r['prompt_name']:<{wp}} {r['n_answered']:>8} "
              f"{r['n_answered'] - r['n_parse_failures']:>6} {with_ci(r, 'accuracy'):>27} "
              f"{with_ci(r, 'accuracy_if_unparsed_wrong'):>31} {p50:>6} {cost:>9}")
    if example_prices:
        print("cost_usd uses the example PRICES table; edit PRICES or pass --prices FILE.json")
    by_class = ", ".join(f"{name} x{n}" for name, n in sorted(counts["by_class"].items()))
    print(f"\ncalls (HTTP requests made now): {counts['requests']} ({by_class or 'none'}); "
          f"answered now: {counts['answered_now']}, cache hits: {counts['hits_this_run'] + counts['hits_earlier']} "
          f"({counts['hits_this_run']} repeated in this run, {counts['hits_earlier']} from earlier runs), "
          f"already in the database: {counts['skipped']}, failed: {counts['failed']}")
    print(f"calls recorded in this database, all runs: {total_requests(db)}")
    unanswered = sum(r["n_unanswered"] for r in rows)
    for error, n in sorted(counts["errors"].items(), key=lambda kv: -kv[1])[:3]:  # redacted when stored
        print(f"  {n} x {error[:300]}")
    if unanswered:
        print(f"{unanswered} (configuration, input) pairs have no answer yet: run again to retry only those.")
    # Only the columns that tell configurations apart: a label with the prompt texts would be unreadable.
    # seed: a replicate; stored: the configurations already in the database, in any version (a --models run;
    # trial J: a later version of one model lost `model` from its tables)
    stored = bk.stored_configurations(db, "predictions", configs[0])
    label = ",".join(bk.varying_columns(configs, exclude=["seed"], stored=stored) or ["model"])
    print(f"\ndatabase: {db}   (tables: predictions, metrics; response cache: {cache_dir})")
    if shard:
        print(f"shard {shard}: this file holds one part of the pairs; run the commands below on all {shard.n} "
              "shard files once every shard has finished.")
    files = bk.shard_files(db, shard)
    only = ("--version", experiment_version)  # this run's rows: a --limit smoke run may share the database
    # Ranked by strict correctness (an unparsed answer is what a caller gets: wrong), the accuracy of parsed
    # answers beside it; trial S: ranked by the parsed ones, a prompt that parses less often looked best.
    metrics = ("--metric", "correct_strict:higher", "--metric", "accuracy:higher")
    # The latency of the comparison and the tables is each answer's own call (latency_s; a replayed answer's is
    # its original call's), the same in every version (trial Z: the tables of two weeks had latency columns of one
    # name and two meanings). What callers waited (wait_s: retries and backoff) is empty on replayed answers: its
    # command comes only where most answers were asked now (trial U: a smoke run's few replays leave enough calls).
    latency = ("--latency-col", "latency_s", "--latency-of-replays")
    waited = not any(2 * r["n_cache_hits"] > r["n_answered"] for r in rows)
    export = functools.partial(bk.script_command, "export_summary.py", files, "predictions", "--config-cols", label,
                               *only, *metrics, *bars)
    stem = bk.tables_stem(db, experiment_version)
    into = functools.partial(bk.into_csv, stem)
    # trial Z: "for each model, which prompt?" is the pairs within a model (a smaller family: more power)
    within = ("--within", "model") if "model" in label.split(",") and "," in label else ()
    steps = [
        ("can the numbers be trusted?", bk.script_command("validate_benchmark.py", files, "predictions", "--filter",
                                                          f"experiment_version={experiment_version}")),
        ("which configuration is best, and which differences are real? (ranked by correct_strict: an unparsed "
         "answer counts as wrong; accuracy of the parsed answers beside it; latency: each answer's own call, a "
         "replayed one's original call)", export("--pairs", "all", *latency)),
        *([("for each model, which prompt? (only the pairs within a model, adjusted as their own family)",
            export("--pairs", "all", "--within", "model", *latency))] if within else []),
        ("the same as tables: one row per configuration, one row per pair"
         + (", one row per pair within a model" if within else ""),
         export("--pairs", "all", *latency, "--csv", "--wide") + into("results")),
        ("", export("--pairs", "all", "--csv", "--comparisons") + into("pairs")),
        *([("", export("--pairs", "all", *within, "--csv", "--comparisons") + into("within_model_pairs"))]
          if within else []),
        *([("what callers waited: retries and backoff included, a failed call until it gave up",
            export("--pairs", "all", "--latency-col", "wait_s", "--failure-latency", "0s"))] if waited else []),
        ("did the response cache work?", bk.script_command("analyze_cache_hits.py", files, "predictions")),
    ]
    # trials Z3, A and C wrote their own per-category analyses: each field of the data, its slices and their table
    for k, (name, values) in enumerate(list(slices.items())[:MAX_SLICE_FIELDS] if slices else []):
        shown = ", ".join(map(str, values[:4])) + (", ..." if len(values) > 4 else "")
        steps[2 + 3 * k:2 + 3 * k] = [
            (f"per {name} ({shown}), a field of your data: every table and verdict per value, and which "
             "configuration leads each (one value alone: --filter FIELD=VALUE on any command here)",
             export("--pairs", "all", *latency, "--by", name)),
            ("", export("--pairs", "all", *latency, "--by", name, "--csv", "--wide") + into(f"by_{name}")),
            ("", export("--pairs", "all", "--by", name, "--csv", "--comparisons") + into(f"by_{name}_pairs"))]
    # trial G: "does the prompt added later beat the previous best?", one planned comparison, built by hand
    later = bk.added_later(db, "predictions", label.split(","), "correct_strict", experiment_version=experiment_version)
    steps[2:2] = bk.planned_steps(later, "correct_strict", functools.partial(export, *latency), into)
    bk.print_steps(steps, stem)


MAX_SLICE_FIELDS = 3  # fields of the data the printed commands slice by, in the data's order


def item_slices(items: list[Item], most: int = 20) -> dict[str, list]:
    """The inputs' own fields that group them (2 to `most` values), each with its values in order."""
    values: dict[str, set] = {}
    for item in items:
        for name, value in item.fields:
            values.setdefault(name, set()).add(value)
    return {name: sorted(v, key=str) for name, v in values.items() if 2 <= len(v) <= most}


def total_requests(db: Path) -> int:
    """HTTP requests every run so far made (a cache hit made none): what the benchmark cost in calls."""
    con = bk.connect_readonly(db)
    try:
        columns = {r[1] for r in con.execute("SELECT * FROM pragma_table_info('predictions')")}
        if "n_requests" not in columns:
            return 0
        return con.execute("SELECT COALESCE(SUM(n_requests), 0) FROM predictions").fetchone()[0]
    finally:
        con.close()


# ================================================ CLI ====================================================


def load_items(path: Path) -> list[Item]:
    """JSONL: one {"id": ..., "text": ..., "label": ...} per line (id defaults to the line number); any other
    field ("category": "billing") goes onto the input's rows as a column of that name, to slice results by.

    Ids must be unique: a row is identified by (configuration, id). Texts may repeat (their calls are made
    once: the repeats are cache hits)."""
    with path.open(encoding="utf-8") as fh:
        rows = [(n, json.loads(line)) for n, line in enumerate(fh, start=1) if line.strip()]
    items, first_line = [], {}
    for i, (n, r) in enumerate(rows):
        other = tuple((k, v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, sort_keys=True))
                      for k, v in r.items() if k not in ("id", "text", "label"))
        item = Item(r.get("id", i), str(r["text"]), str(r["label"]), other)
        if item.id in first_line:
            raise ValueError(f"id {item.id!r} on line {n} is also on line {first_line[item.id]}")
        first_line[item.id] = n
        items.append(item)
    return items


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
    """(base URL, endpoint name): the given one, or the loopback stand-in server for the offline demo.

    The name is a configuration column: credentials in the URL are redacted from it."""
    if base_url:
        yield base_url.rstrip("/"), redact(base_url.rstrip("/"))
        return
    from llm_standin_server import StandinServer  # demo only: a real endpoint needs just this file + benchkit

    with StandinServer({item.text: item.label for item in items}) as server:
        yield server.base_url, "standin"


class _Parser(bk.ArgumentParser):
    def error(self, message: str):  # benchkit's one line and exit 2, with any key in the message redacted
        self.exit(2, redact(f"{self.prog}: error: {message}") + "\n")


EPILOG = """defaults come from the EDIT block at the top of this file: BASE_URL, API_KEY_ENV, DATA, MODELS,
PROMPTS, parse_answer, PRICES (USD per million tokens; the shipped values are EXAMPLES), TEMPERATURE,
MAX_TOKENS, SEEDS, DB, CACHE_DIR, EXPERIMENT_VERSION, CONCURRENCY, TIMEOUT_S, MAX_RETRIES, TARGET, SLO.

tables: predictions (one row per configuration and input; `cache` '' = requests made now, else the run
that made them; `attempts` = status or error class of every request, e.g. 429,200) and metrics (one row
per configuration). Every row carries experiment_version, the git commit of the current directory and the
data fingerprint; the analysis scripts never pool versions. API keys are redacted from everything stored
or printed."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="llm_finetuning_template.py", description=__doc__.split("\n\n")[0], epilog=EPILOG)
    parser.add_argument("--base-url", default=BASE_URL, help="OpenAI-compatible base URL, e.g. "
                        "https://api.openai.com/v1 or http://localhost:8000/v1 (default: BASE_URL; None starts "
                        "the offline stand-in server)")
    parser.add_argument("--api-key-env", default=API_KEY_ENV, metavar="VAR",
                        help="environment variable holding the API key (default: %(default)s; unset = no key)")
    parser.add_argument("--models", help=f"comma-separated model names (default: {','.join(MODELS)})")
    parser.add_argument("--prompts", help=f"comma-separated prompt names (default: all of {','.join(PROMPTS)})")
    parser.add_argument("--temperature", type=float, default=TEMPERATURE, help="default: %(default)s")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="default: %(default)s")
    parser.add_argument("--seeds", type=int, default=SEEDS, help="replicates per configuration (seeds 0..N-1; "
                        "default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DATA, help="JSONL dataset with id/text/label (default: DATA)")
    parser.add_argument("--prices", type=Path, metavar="FILE.json",
                        help='USD per million tokens, {"model": [input, output], ...} (default: the example '
                        "PRICES table in this file)")
    bk.add_common_options(parser, db=DB, cache_dir=f"{CACHE_DIR}; the shards of one machine share it",
                          experiment_version=EXPERIMENT_VERSION, shard=True, limit_help="smoke run on N inputs: a fixed subset taken round-robin over the labels, in "
                                     "id order (not the first N lines)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help="parallel HTTP requests (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per request (default: %(default)s)")
    parser.add_argument("--max-retries", type=int, default=MAX_RETRIES,
                        help="retries on 429/5xx/timeouts before the call is an error row (default: %(default)s)")
    parser.add_argument("--target", default=TARGET, metavar="METRIC>=VALUE",
                        help="a bar the printed comparison judges each configuration against, e.g. "
                             "correct_strict>=0.9 (default: TARGET)")
    parser.add_argument("--slo", default=SLO, metavar="OBJECTIVE",
                        help="a latency objective per call the printed comparison judges, e.g. 'p95<150ms' on "
                             "latency_s, each answer's own call (default: SLO)")
    args = parser.parse_args(argv)
    bk.check_common_options(parser, args)  # --limit, --experiment-version, --db
    args.cache_dir = args.cache_dir or Path(CACHE_DIR)
    for name in ("concurrency", "seeds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.max_retries < 0 or args.timeout <= 0:
        parser.error("--max-retries must be >= 0 and --timeout > 0")
    if args.base_url and not re.match(r"https?://", args.base_url):
        parser.error(f"--base-url must start with http:// or https://, got {args.base_url!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    """0 when every (configuration, input) has an answer, 1 when some calls failed (re-run to retry only
    those), 2 on bad input."""
    args = parse_args(argv)
    key = os.environ.get(args.api_key_env) or ""
    _SECRETS[:] = [key] if len(key) >= 8 else []  # a shorter "key" ("EMPTY", "ollama") is a placeholder
    try:
        all_items = load_items(args.data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return fail(f"cannot read --data {args.data}: {type(exc).__name__}: {exc}")
    items = stratified_subset(all_items, args.limit)
    try:
        prices, example_prices = load_prices(args.prices)
    except (OSError, ValueError) as exc:
        return fail(f"cannot read --prices {args.prices}: {exc}")
    prompts = [Prompt(name, *PROMPTS[name][:2]) for name in PROMPTS
               if not args.prompts or name in args.prompts.split(",")]
    # trial G: a step-by-step prompt added later needs room; a third item gives it its own max_tokens, so the other
    # prompts' requests (and their cached answers) stay as they were
    room = {name: spec[2] for name, spec in PROMPTS.items() if len(spec) > 2}
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else list(MODELS)
    if not prompts or not items or not models:
        return fail("no models, prompts or inputs selected")
    for model in models:
        if model not in prices:
            print(f"note: no price for {model!r} in {args.prices or 'PRICES'}: its cost_usd stays empty",
                  file=sys.stderr)
    retry = Retry(max_retries=args.max_retries, timeout_s=args.timeout)
    # The fingerprint covers the whole dataset, so a --limit smoke run and the full run share rows.
    # The git commit of the current directory: the user's project, not the folder this template sits in.
    version = bk.provenance(data_fingerprint=bk.fingerprint([i.record() for i in all_items]), root=Path.cwd(),
                            experiment_version=args.experiment_version, **bk.placement(args.shard))
    try:  # xetrack renames some names (`sales channel`: sales_channel) and cannot store others (`order`)
        columns = bk.field_columns(dict.fromkeys(name for i in all_items for name, _ in i.fields), "predictions")
    except ValueError as exc:
        return fail(f"--data {args.data}: {exc}")
    taken = sorted(n for n, c in columns.items() if c in set(version) | row_columns(models[0]))
    if taken:
        return fail(f"--data {args.data}: the field{'s' * (len(taken) > 1)} {', '.join(taken)} would overwrite "
                    "columns this template writes; rename them in the data")
    renamed = [f"{n!r} as {c}" for n, c in columns.items() if n != c]
    if renamed:
        print(f"note: xetrack stores the data's field{'s' * (len(renamed) > 1)} {', '.join(renamed)}",
              file=sys.stderr)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    try:
        with endpoint(args.base_url, items) as (url, name), \
                httpx.Client(base_url=url, headers=headers, timeout=retry.timeout_s, limits=limits) as client:
            try:  # a wrong URL would otherwise cost every call its full retry budget (not counted as a call)
                client.get("/models")
            except httpx.TransportError as exc:
                return fail(f"cannot reach {url}: {type(exc).__name__}: {exc}")
            configs = [Config(name, m, p, args.temperature, room.get(p.name, args.max_tokens), s)
                       for m in models for p in prompts for s in range(args.seeds)]
            pairs = owned(configs, items, args.shard)
            labels = sorted({item.label for item in items})  # of every input, not only this shard's
            counts = run(pairs, labels, args.db, args.cache_dir, client, retry, args.concurrency, version, prices,
                         args.add_to_version)
        rows = summarise(configs, pairs, args.db, version)
    except sqlite3.DatabaseError as exc:
        return fail(f"--db {args.db}: {exc}")
    except VersionDrift as exc:
        return fail(str(exc))
    uses_examples = example_prices and any(m in prices for m in models)
    bars = (("--target", args.target) if args.target else ()) + (("--slo", args.slo) if args.slo else ())
    print_summary(rows, counts, args.db, args.cache_dir, configs, uses_examples, args.experiment_version,
                  args.shard, bars, {columns[n]: v for n, v in item_slices(items).items()})
    return 1 if any(r["n_unanswered"] for r in rows) else 0


def fail(message: str) -> int:
    print(redact(f"llm_finetuning_template.py: error: {message}"), file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
