"""export_summary's DuckDB scan is fetched ahead by a second thread (scan.py, _prefetched): every chunk arrives
in order, an error in the fetching thread is raised in the reading one, and a reader that stops early leaves
no thread behind (the connection is closed right after)."""

from __future__ import annotations

import threading

import pytest
from _bench.reader import DuckDBTypeMismatch
from _bench.summary import scan


def chunks(n: int, fail_at: int | None = None, seen: list | None = None):
    for i in range(n):
        if i == fail_at:
            raise DuckDBTypeMismatch("Mismatch Type Error: chunk 3")
        if seen is not None:
            seen.append(i)
        yield [i]


def fetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "export-fetch"]


def test_every_chunk_arrives_in_order():
    assert list(scan._prefetched(chunks(50))) == [[i] for i in range(50)]
    assert not fetchers()


def test_an_error_while_fetching_is_raised_in_the_reader_after_the_chunks_before_it():
    got = []
    with pytest.raises(DuckDBTypeMismatch, match="chunk 3"):
        for chunk in scan._prefetched(chunks(10, fail_at=3)):
            got.append(chunk)
    assert got == [[0], [1], [2]] and not fetchers()


def test_a_reader_that_stops_early_stops_the_fetcher():
    seen: list[int] = []
    stream = scan._prefetched(chunks(10_000, seen=seen))
    assert next(stream) == [0]
    stream.close()  # what a `for` loop broken by an error does
    assert not fetchers()
    assert len(seen) < 10_000  # it stopped fetching, bounded by the read-ahead
