"""The LLM template never stores or prints an API key, even when the server quotes it back.

Some servers and proxies echo the request, headers included, in their error bodies; the stand-in's
`echo_headers` mode does the same over real HTTP on loopback. The key must then be absent from every table
of the database (xetrack's asset tables included), from every file of the response cache, and from stdout and
stderr, while the redacted echo itself is kept (so the test sees that the key really came back).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers import ROOT, random_hash_seed_env, run_python
from llm_finetuning_template import DATA, load_items, redact
from llm_standin_server import StandinServer

TEMPLATE = ROOT / "assets" / "llm_finetuning_template.py"
ITEMS = load_items(DATA)
LABELS = {i.text: i.label for i in ITEMS}
# an OpenAI-style key (sk-...) and a gateway key with no recognisable shape: only its value can find it
KEYS = ["sk-proj-T3stKey0123456789abcdefXYZ", "gw.7f3a9c21e04b4d8e-secret"]


def every_value_in(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"predictions", "metrics", "assets"} <= set(tables)
        return "\n".join(repr(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"'))
    finally:
        con.close()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.mark.slow
@pytest.mark.parametrize("key", KEYS, ids=["sk-key", "gateway-key"])
def test_a_server_that_echoes_the_key_leaves_no_key_in_the_database_cache_or_output(tmp_path, key):
    refused, broken, chatty = ITEMS[1], ITEMS[2], ITEMS[3]
    env = random_hash_seed_env(LLM_KEY=key)
    outputs = []
    with StandinServer(dict(LABELS), transient_failures=False) as srv:
        srv.echo_headers = {refused.text: 400, broken.text: 500, chatty.text: 200}
        args = [TEMPLATE, "--base-url", srv.base_url, "--api-key-env", "LLM_KEY", "--limit", "6", "--max-retries", "1"]
        for _ in range(2):  # the second run replays the echoing 200 from the cache and retries the failures
            proc = run_python(*args, cwd=tmp_path, env=env, timeout=120)
            assert proc.returncode == 1, proc.stderr
            outputs += [proc.stdout, proc.stderr]
        assert set(srv.authorizations) == {f"Bearer {key}"}, "the key never reached the server"

    db = tmp_path / "llm_bench.db"
    values = every_value_in(db)
    # the echoes were stored, redacted: in the error of the refused and broken calls, in the chatty answer
    assert values.count("headers received:") >= 2 * 4 and values.count("request_headers") >= 4
    assert "Bearer [REDACTED]" in values
    stored = [db, *tmp_path.glob("llm_bench.db-*"), *files_under(tmp_path / "llm_cache")]
    assert len(stored) >= 2  # the database and the cache (diskcache keeps small values in its cache.db)
    secret_part = key[8:]  # any long piece of it would be a leak
    for path in stored:
        data = path.read_bytes()
        assert key.encode() not in data and secret_part.encode() not in data, path
    for text in outputs:
        assert key not in text and secret_part not in text
    assert "[REDACTED]" in outputs[0], "the error of the refused call is not in the output"


@pytest.mark.parametrize("text, kept", [
    ('{"Authorization": "Bearer sk-abcdef123456"}', '{"Authorization": "Bearer [REDACTED]"}'),
    ("{'Host': 'h', 'authorization': 'Bearer tok_123456789'}", "{'Host': 'h', 'authorization': 'Bearer [REDACTED]'}"),
    ("(b'authorization', b'Bearer abcdefghij')", "(b'authorization', b'Bearer [REDACTED]')"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"),
    ("api-key: 0123456789abcdef", "api-key: [REDACTED]"),
    ('"x-api-key":"zzzzzzzzzz"', '"x-api-key":"[REDACTED]"'),
    ("Incorrect key sk-live_abcdefghijkl provided", "Incorrect key sk-[REDACTED] provided"),
    ("https://user:pa55word@gw.example/v1?api_key=abc123", "https://[REDACTED]@gw.example/v1?api_key=[REDACTED]"),
    ("Authorization failed: check the task-runner settings", "Authorization failed: check the task-runner settings"),
])
def test_redact_removes_keys_in_header_json_and_repr_forms_and_keeps_plain_words(text, kept):
    assert redact(text) == kept
    assert redact(kept) == kept, "redacting twice changed the text"
