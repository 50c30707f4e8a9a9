"""A small scikit-learn model behind a JSON endpoint on loopback: the throughput template's default target.

    POST /predict  {"instances": [[5.1, 3.5, 1.4, 0.2], ...]}  ->  {"predictions": [0, ...]}
    GET  /health   {"status": "ok"}
    GET  /stats    {"served": n}   predictions answered so far, so tests can count requests independently

It is a real server (stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive, a logistic regression fitted on the
iris data bundled with scikit-learn), in its own process, so the benchmark measures real HTTP.

Options that make it misbehave on purpose, deterministically:
  --stall-every P --stall-for D   every P seconds (counted from start) the server stops answering for D
                                  seconds, like a garbage-collection pause; a request that arrives during
                                  a stall waits until it ends. It shows whether a load generator sees stalls.
  --exit-with-parent              exit as soon as the process that started it is gone, so a benchmark
                                  killed with SIGKILL never leaves a server holding the port.

Run it alone:  python model_server.py --port 8000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restarted benchmark can bind the port again at once

    def __init__(self, port: int, stall_every: float = 0.0, stall_for: float = 0.0):
        features, labels = load_iris(return_X_y=True)
        self.model = LogisticRegression(max_iter=500).fit(features, labels)
        self.stall_every, self.stall_for = stall_every, stall_for
        self.started = time.monotonic()
        self.served = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def wait_out_stall(self) -> None:
        if self.stall_for <= 0:
            return
        phase = (time.monotonic() - self.started) % self.stall_every
        if phase < self.stall_for:
            time.sleep(self.stall_for - phase)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a load test should not measure TCP handshakes
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs: +40 ms per reply

    def do_GET(self) -> None:
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path == "/stats":
            self.reply(200, {"served": self.server.served})
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/predict":
            self.reply(404, {"error": f"no route {self.path}"})
            return
        self.server.wait_out_stall()
        try:
            predictions = self.server.model.predict(json.loads(body)["instances"]).tolist()
        except (ValueError, KeyError, TypeError) as exc:
            self.reply(400, {"error": f"expected {{'instances': [[4 numbers], ...]}}: {exc}"})
            return
        with self.server.lock:
            self.server.served += 1
        self.reply(200, {"predictions": predictions})

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # one line per request would cost more than the prediction
        pass


def exit_when_parent_dies(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="model_server.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000)")
    parser.add_argument("--stall-every", type=float, default=0.0, metavar="P", help="stall period, seconds")
    parser.add_argument("--stall-for", type=float, default=0.0, metavar="D", help="stall length, seconds")
    parser.add_argument("--exit-with-parent", action="store_true", help="exit when the parent process dies")
    args = parser.parse_args(argv)
    if args.stall_for and not 0 < args.stall_for < args.stall_every:
        parser.error("--stall-for must be positive and shorter than --stall-every")
    if args.exit_with_parent:
        threading.Thread(target=exit_when_parent_dies, args=(os.getppid(),), daemon=True).start()
    try:
        server = ModelServer(args.port, args.stall_every, args.stall_for)
    except OSError as exc:
        print(f"model_server.py: error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"serving on http://127.0.0.1:{server.server_address[1]}/predict", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
