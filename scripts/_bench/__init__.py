"""The private package behind scripts/validate_benchmark.py, analyze_cache_hits.py and export_summary.py.

Not a public API: the entry points beside this folder are. They import it by name because Python puts a
script's own folder first on sys.path (plain `python scripts/x.py`, `uv run`, and the packaged skill alike).

    cli.py              the one CLI contract: shared options, --fail-on, status, exit codes, strict JSON
    reader.py           read one or many database files as one view `bench`, read-only, typed one-line errors
    files.py            how a file on disk is opened: read-only URIs, WAL and hot journals via a private copy,
                        busy timeout, naming a damaged shard
    duckdb_extension.py DuckDB's sqlite extension installed offline from its wheel (setup_duckdb.py is its CLI)
    sql.py              SQL fragments that mean the same in SQLite and DuckDB (quoting, NULL-safe predicates)
    layout.py           the one role inference: configuration, input, replicate/fold, split, outcome, version,
                        asset columns, load-test tables; how every report names a configuration
    cache_diagnosis.py  the one diagnosis of xetrack's cache (ids, definitions, fix text) for both scripts
    cache_profile.py    analyze_cache_hits' aggregate passes: hit rates, lineage, time saved
    stats.py            intervals, paired tests and multiplicity adjustment, as small value objects
    power.py            what a comparison could detect (80 % power) and how much data a difference needs
    validate/           validate_benchmark's passes (passes.py), checks (rules.py) and --snapshot (snapshot.py)
    summary/            export_summary's plan, scan, computation, report model, rendering, --reference,
                        --save, its findings (findings.py) and design options (design.py: --within, --pool,
                        --unit)
"""
