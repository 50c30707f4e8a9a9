"""The one diagnosis of xetrack 0.7.0's cache, shared by validate_benchmark and analyze_cache_hits: the same
check ids, the same definitions and the same fix text, whichever script finds the problem.

What the `cache` column means: '' computed, a track_id replayed from that run, NULL no cache key (an
unhashable argument, or caching off in that run); no column at all: nothing was ever cacheable.

A *cached failure* is a failure the next run will replay instead of retrying: a replayed row carrying an
error, or a computed track() call that failed by *returning* its failure (xetrack caches whatever a function
returns; a raise leaves function_result = 'None' and is never cached, a returned dict leaves it NULL).
"""

from __future__ import annotations

from _bench.cli import MAX_EXAMPLES, Finding
from _bench.layout import Layout
from _bench.reader import Benchmark
from _bench.sql import as_text, q

# Why a cache silently did nothing, and what to do about it: one sentence each, used by both scripts.
UNHASHABLE = ("an argument is unhashable (list, dict, set, numpy array, non-frozen dataclass), which makes "
              "xetrack 0.7.0 skip the cache silently")
PROCESS_HASH = ("the arguments include objects (a dataclass, or a tuple holding a str) that xetrack keys by "
                "hash(), and Python's str hashes change in every process, so every new process misses")
ELSEWHERE = "the cache directory differed or was cleared between runs, or cache_force=True was used"
FIX_KEYS = ("Pass hashable, process-stable arguments (ids, numbers, strings, frozen dataclasses of numbers), or a "
            "content hash of the configuration (benchkit.config_id / benchkit.track_cached).")
FIX_SAME_DIR = "Point every run at the same Tracker(cache=DIR), and do not clear it between runs."
FIX_ENABLE = ("Enable it with Tracker(db, cache='cache_dir') and call the function through tracker.track() "
              "with hashable, process-stable arguments (e.g. benchkit.track_cached).")
FIX_CACHED_FAILURES = ("Raise on failure: xetrack logs the error row and never caches a raised exception. Then "
                       "remove the poisoned entries: `xt cache delete CACHE_DIR RUN_ID` removes every entry that "
                       "run computed (RUN_ID: the `cache` value of a replayed failure, or the failing run), or "
                       "re-run those calls with track(..., cache_force=True).")


def returned_failure(layout: Layout) -> str:
    """SQL: a computed track() call that failed by returning its failure (so xetrack cached it)."""
    L = layout
    if not (L.function and L.error and L.cache):
        return "(1 = 0)"  # rows written by log(): whoever wrote them decided what was cached
    returned = f"{q('function_result')} IS NULL" if "function_result" in L.columns else "(1 = 1)"
    return f"({q(L.cache)} = '' AND {L.failed} AND {returned})"


def cached_failure_rows(layout: Layout) -> str:
    """SQL: every row that is (or replays) a cached failure."""
    return f"(({layout.replayed} AND {layout.failed}) OR {returned_failure(layout)})"


def cached_failures(bench: Benchmark, source: str, layout: Layout, replayed: int, returned: int) -> list[Finding]:
    """The `cached-failures` finding, from the counts of replayed failures and returned (cached) failures."""
    if not (replayed or returned):
        return []
    parts = []
    if replayed:
        parts.append(f"{replayed:,} replayed rows carry an error, so every re-run replays the failure without "
                     "retrying")
    if returned:
        parts.append(f"{returned:,} computed calls returned their failure (e.g. {{'error': ...}}) instead of "
                     "raising, so xetrack cached it and the next run will replay it")
    rows = bench.query(
        f"SELECT {as_text(q(layout.error))}, CASE WHEN {layout.replayed} THEN {as_text(q(layout.cache))} END, "
        f"COUNT(*) FROM {source} WHERE {cached_failure_rows(layout)} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 "
        f"LIMIT {MAX_EXAMPLES}")
    examples = [{"error": e, "replayed_from_run": run, "rows": n} for e, run, n in rows]
    return [Finding("cached-failures", "error",
                    f"Failures were cached (xetrack 0.7.0 caches whatever a function returns): {'; '.join(parts)}.",
                    FIX_CACHED_FAILURES, examples)]
