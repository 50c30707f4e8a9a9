"""A small OpenAI-compatible chat-completions server on loopback, so the LLM template runs offline.

It is a stand-in for a real endpoint (OpenAI, vLLM, Ollama, llama.cpp server, ...), not a model: it answers
a labelled classification prompt from the labels it was given, and misbehaves the way real endpoints do,
deterministically, so runs and tests are reproducible:

- answers: right for most items, wrong for some (more for 'demo-small' than 'demo-large'), and unparseable
  for a few (more when the system prompt does not ask for one word). A prompt that asks to reason step by step
  gets a short reasoning ending in `Answer: <label>`, right on more items (every item a model gets right
  without it stays right) at the cost of a longer answer: more completion tokens and more time. The larger model
  writes its answer slower. How often is
  deliberately not stated here: a benchmark run against this stand-in measures it, and that measurement is the
  point of the demo (a prompt effect and its price);
- `usage` token counts (about 4 characters per token) and `finish_reason`;
- 429 with `Retry-After` (seconds) and `retry-after-ms` on the first attempt of some requests, 500/503 on
  the first attempt of others (decided by a hash of the request content and the attempt number);
- `fail_always`: tests set `{substring: status}` to make every request whose user message contains the
  substring fail, until they clear it; `stall_first`: `{substring: seconds}` delays the first attempt of
  such requests (to exercise client timeouts); `echo_headers`: `{substring: status}` answers such requests
  with that status and a body that echoes the request headers, API key included, as some servers do
  (200: a normal answer with the headers added under "debug");
- `GET /v1/models` lists the demo models;
- it counts requests: `GET /stats` returns `{"requests": n, "by_status": {...}}`; in-process,
  `server.requests` lists `(time, status, model, user message)` for every POST (the path for rejected ones)
  and `server.authorizations` the `Authorization` header of each.

It knows the right answers from a JSONL file of `{"id", "text", "label"}` lines, by default the template's
demo data (llm_demo_data.jsonl beside this file). Run it alone with `python llm_standin_server.py --port 8000`
and point the template at `--base-url http://127.0.0.1:8000/v1`; `--fail TEXT=STATUS` and `--stall
TEXT=SECONDS` set `fail_always` and `stall_first` from the command line, to see timeouts and failures.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEMO_DATA = Path(__file__).with_name("llm_demo_data.jsonl")  # the template's demo data: texts and labels

# Probability of a right answer per model name; unknown models get DEFAULT_SKILL.
SKILL = {"demo-small": 0.70, "demo-large": 0.90}
DEFAULT_SKILL = 0.80
UNPARSEABLE_RATE = {"one word": 0.03, "otherwise": 0.15}
LATENCY_S = 0.01  # simulated time per request, plus 0.5 ms per prompt token and per completion token:
GENERATION_S = {"demo-small": 0.002, "demo-large": 0.004}  # a larger model writes slower (trial Z: alike)
DEFAULT_GENERATION_S = 0.003
REASONING = "step by step"  # in the system or user prompt: the model reasons first (see _answer)
REASONED_ERRORS = 0.5  # the share of a model's wrong answers that reasoning leaves wrong


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by the parts: deterministic 'randomness' across processes."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _tokens(text: str) -> int:
    return max(1, round(len(text) / 4))


def load_labels(path: str | Path = DEMO_DATA) -> dict[str, str]:
    """{text: label} from a JSONL file with "text" and "label" on every line."""
    with open(path, encoding="utf-8") as fh:
        return {str(r["text"]): str(r["label"]) for r in map(json.loads, filter(str.strip, fh))}


class StandinServer:
    """`with StandinServer(labels) as server:` serves on `server.base_url` in a background thread."""

    def __init__(self, labels: dict[str, str] | None = None, port: int = 0, latency_s: float = LATENCY_S,
                 transient_failures: bool = True):
        self.labels = load_labels() if labels is None else labels  # input text -> true label
        self.label_names = sorted(set(labels.values()))
        self.latency_s = latency_s
        self.transient_failures = transient_failures
        self.fail_always: dict[str, int] = {}
        self.stall_first: dict[str, float] = {}
        self.echo_headers: dict[str, int] = {}
        self.requests: list[tuple[float, int, str, str]] = []
        self.authorizations: list[str | None] = []
        self._attempts: dict[str, int] = {}
        self._said_unknown = False
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="llm-standin", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> StandinServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def count(self, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if status is None or r[1] == status)

    # --- behaviour ----------------------------------------------------------------------------------
    def respond(self, body: dict, request_headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
        """(status, headers, JSON body) for one chat-completions request."""
        request_headers = request_headers or {}
        messages = body.get("messages") or []
        model = str(body.get("model", ""))
        system = " ".join(m.get("content", "") for m in messages if m.get("role") == "system")
        user = " ".join(m.get("content", "") for m in messages if m.get("role") == "user")
        content_key = json.dumps([model, messages], sort_keys=True)
        with self._lock:
            attempt = self._attempts[content_key] = self._attempts.get(content_key, 0) + 1
        status, headers, payload = self._plan(model, system, user, content_key, attempt, body)
        echo = next((code for needle, code in self.echo_headers.items() if needle in user), None)
        if echo == 200 and status == 200:
            payload["debug"] = {"request_headers": request_headers}
        elif echo is not None:  # a careless server or proxy quoting the whole request back in its error
            status, headers, payload = _error(echo, f"invalid request; headers received: {request_headers}")
        stall = next((s for needle, s in self.stall_first.items() if needle in user and attempt == 1), 0.0)
        completion = (payload.get("usage") or {}).get("completion_tokens", 0)
        generation = GENERATION_S.get(model, DEFAULT_GENERATION_S) * completion
        time.sleep(stall + self.latency_s + 0.0005 * _tokens(system + user) + generation)
        with self._lock:
            self.requests.append((time.time(), status, model, user))
            self.authorizations.append(request_headers.get("Authorization"))
        return status, headers, payload

    def _plan(self, model, system, user, content_key, attempt, body):
        for needle, status in self.fail_always.items():
            if needle in user:
                return _error(status, "injected failure", {"retry-after-ms": "20"} if status == 429 else {})
        if self.transient_failures and attempt == 1:
            u = _unit("fault", content_key)
            if u < 0.10:
                return _error(429, "Rate limit reached", {"Retry-After": "1", "retry-after-ms": "50"})
            if u < 0.17:
                return _error(500 if u < 0.14 else 503, "The server had an error while processing your request")
        text = self._answer(model, system, user)
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] >= _tokens(text):
            finish = "stop"
        else:
            text, finish = text[: 4 * body["max_tokens"]], "length"
        prompt_tokens, completion_tokens = _tokens(system + user), _tokens(text)
        return 200, {}, {
            "id": "chatcmpl-" + hashlib.sha256(content_key.encode()).hexdigest()[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    def _answer(self, model: str, system: str, user: str) -> str:
        item = next((t for t in sorted(self.labels, key=len, reverse=True) if t in user), None)
        if item is None and not self._said_unknown:  # trial Z: run alone on other data, it answered nothing usable
            self._said_unknown = True
            print("llm_standin_server: an input it has no label for: it answers such inputs unparseably; run it "
                  "with --labels YOUR_DATA.jsonl (the file the template's DATA reads)", file=sys.stderr, flush=True)
        one_word = "one word" in (system + user).lower()
        reasons = REASONING in (system + " " + user).lower()
        if item is None or _unit("parse", model, system, user) < UNPARSEABLE_RATE[
                "one word" if one_word or reasons else "otherwise"]:  # a reasoning prompt asks for an Answer line
            return "Hard to say: it reads a bit both ways."
        truth = self.labels[item]
        skill = SKILL.get(model, DEFAULT_SKILL)
        if reasons:  # the same draw against a higher bar: what was right stays right, half the errors go
            skill = 1 - REASONED_ERRORS * (1 - skill)
        if _unit("skill", model, item) < skill or len(self.label_names) < 2:
            label = truth
        else:
            others = [name for name in self.label_names if name != truth]
            label = others[int(_unit("wrong", model, item) * len(others))]
        if reasons:
            return f"Weighing the text step by step, the evidence points one way.\nAnswer: {label}"
        return label if one_word else f"Reading the text, the label is {label}."  # any task's labels (trial J)


def _error(status: int, message: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return status, headers or {}, {"error": {"message": message, "type": kind, "code": kind}}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that timed out and hung up is normal here (see `stall_first`): no traceback."""


def _handler(server: StandinServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do
        disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs: +40 ms per call

        def do_POST(self):  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not re.fullmatch(r"(/v1)?/chat/completions", self.path.split("?")[0]):
                return self._reject(404, f"no route {self.path}")
            try:
                body = json.loads(raw)
            except ValueError:
                return self._reject(400, "request body is not JSON")
            self._send(*server.respond(body, dict(self.headers.items())))

        def _reject(self, status: int, message: str) -> None:
            with server._lock:  # rejected calls are calls too: tests count them
                server.requests.append((time.time(), status, "", self.path))
                server.authorizations.append(self.headers.get("Authorization"))
            self._send(status, {}, {"error": {"message": message}})

        def do_GET(self):  # noqa: N802
            if re.fullmatch(r"(/v1)?/models/?", self.path):  # what clients probe first; not counted
                models = [{"id": m, "object": "model", "owned_by": "standin"} for m in SKILL]
                return self._send(200, {}, {"object": "list", "data": models})
            if self.path.rstrip("/") != "/stats":
                return self._send(404, {}, {"error": {"message": f"no route {self.path}"}})
            with server._lock:
                by_status: dict[str, int] = {}
                for _, status, _, _ in server.requests:
                    by_status[str(status)] = by_status.get(str(status), 0) + 1
                stats = {"requests": len(server.requests), "by_status": by_status}
            self._send(200, {}, stats)

        def _send(self, status: int, headers: dict, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet: the template prints its own progress
            pass

    return Handler


def _rule(kind: type):
    """'TEXT=VALUE' for --fail and --stall: (TEXT, VALUE); an argparse type, so bad input is a usage line."""
    def parse(text: str) -> tuple[str, float | int]:
        needle, sep, value = text.rpartition("=")
        try:
            if not sep or not needle:
                raise ValueError
            return needle, kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected TEXT={kind.__name__.upper()}, got {text!r}") from None
    return parse


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the stand-in chat-completions endpoint on loopback.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--labels", type=Path, default=DEMO_DATA,
                        help="JSONL file with 'text' and 'label' fields (default: the template's demo data)")
    parser.add_argument("--fail", type=_rule(int), action="append", default=[], metavar="TEXT=STATUS",
                        help="answer every request whose message contains TEXT with this HTTP status (repeatable): "
                             "a call that fails however often it is retried")
    parser.add_argument("--stall", type=_rule(float), action="append", default=[], metavar="TEXT=SECONDS",
                        help="delay the first attempt of such requests by SECONDS (repeatable): a client timeout, "
                             "then a retry that answers")
    args = parser.parse_args()
    with StandinServer(load_labels(args.labels), port=args.port) as srv:
        srv.fail_always.update(dict(args.fail))
        srv.stall_first.update(dict(args.stall))
        print(f"stand-in chat-completions endpoint at {srv.base_url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
