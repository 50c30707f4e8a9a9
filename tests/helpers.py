"""Helpers the test modules share: the repository root, running Python as a user does, files and ports.

Database builders live in xetrack_fixtures.py (and summary_fixtures.py, validate_fixtures.py); what is here
knows nothing about benchmarks.
"""

from __future__ import annotations

import gc
import hashlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(*args, cwd: Path | None = None, env: dict | None = None, timeout: float = 120,
               ) -> subprocess.CompletedProcess:
    """`python ARGS` in a new process with this interpreter (a script and its arguments, or `-c CODE`), as a
    user runs it: text output captured, no check of the exit code (tests assert it)."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def git(cwd: Path, *args: str) -> str:
    """git in a test's own repository, with an identity and no signing (the machine's config may lack both)."""
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


def random_hash_seed_env(**extra: str) -> dict:
    """This environment with a fresh string-hash seed per process, as every new Python process gets by default:
    a cache that depends on str hashes must show it."""
    return {**os.environ, "PYTHONHASHSEED": "random", **extra}


def call_main(main: Callable[[list[str]], int], capsys, *argv) -> tuple[int, str, str]:
    """A script's `main(argv)` in this process: (exit code, stdout, stderr); argparse's exits count too."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors and --help
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def digest(path: Path) -> str:
    """SHA-256 of a file's bytes, or "-" where there is no file: equal digests mean the path was left as it was."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forks_when_alone() -> bool:
    """Sliced mode's can_fork for export's scan. The real one forks only in a process without other threads
    (slices.py: a lock one of them held hung a child), and a test process has some: the fixtures' xetrack trackers
    leave sqlitedict threads (three per Tracker), which use SQLite, and earlier tests leave idle pools that never
    end (Dask's offload thread, CI). The sqlitedict ones are closed and joined here, so no thread is inside SQLite
    when export forks and the forked path is the one tested; an idle pool waits on a queue, holding no lock."""
    from sqlitedict import SqliteDict, SqliteMultithread

    for obj in gc.get_objects():
        if isinstance(obj, SqliteDict):
            obj.close(do_log=False)
    for thread in threading.enumerate():
        if isinstance(thread, SqliteMultithread):
            thread.join(timeout=10)
    left = [t.name for t in threading.enumerate() if isinstance(t, SqliteMultithread)]
    assert not left, f"sqlitedict threads left running: {left}"
    return sys.platform.startswith("linux")
