"""Which configuration, version, item and cluster every row belongs to, as SQL over the `bench` view.

Shared by export_summary.py and analyze_cache_hits.py. The rules (each one reported back to the user, and
each one overridable):
- configuration: `config_id` when present (the benchkit convention: a content hash of the configuration),
  shown beside its parameter columns; otherwise the inferred parameter columns; `--config-cols` wins.
  Replicate columns (seed, fold, ...) are never part of the configuration: every configuration shares them.
- version: experiment_version, git hashes, *_version, data fingerprints. Rows of different versions are
  never pooled: each version is reported on its own.
- item: the input id plus the replicate columns, so (input 7, seed 1, fold 3) is one paired unit.
- cluster: the replicate columns; rows that share a seed and fold share a fitted model, so they are not
  independent evidence. With a `fold` column (repeated k-fold CV) the folds of one seed also share training
  data: export_summary then uses the Nadeau-Bengio corrected resampled t over per-fold values; with seeds
  only (independent replicate runs), cluster-robust standard errors over them.
- a row is *replayed* when `cache` holds a track_id (xetrack 0.7.0 logs a cache hit that way), *computed*
  otherwise; it *failed* when `error` is not empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from _db import Benchmark, InputError, Roles, infer_roles, quote_ident

SEP = "\x1f"  # ASCII unit separator: joins key parts, cannot occur in ordinary identifiers or values
NULL_MARK = "\x1e"  # stands for NULL inside a joined key, so NULL and '' stay different


def q(name: str) -> str:
    return quote_ident(name)


def as_text(expr: str) -> str:
    return f"CAST({expr} AS VARCHAR)"  # VARCHAR: understood by SQLite (TEXT affinity) and DuckDB alike


def flag(condition: str) -> str:
    """1 when the condition holds, 0 when it is false *or NULL*, in SQLite and DuckDB alike."""
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def text_key(columns: list[str]) -> str:
    """One text value standing for the tuple of `columns` (NULL and '' kept apart); '' when there are none.
    Text on both engines, so the same key read by DuckDB (NULL integers arrive as NaN) still matches."""
    if not columns:
        return "''"
    parts = [f"CASE WHEN {q(c)} IS NULL THEN '{NULL_MARK}' ELSE {as_text(q(c))} END" for c in columns]
    return f" || '{SEP}' || ".join(parts)


def numeric(expr: str, engine: str) -> str:
    """The value when it is stored as a number, else NULL: a numpy scalar logged by xetrack is a 16-hex asset
    hash, and SQLite's CAST would silently turn such text into 0."""
    if engine == "sqlite":
        return f"CASE WHEN typeof({expr}) IN ('integer', 'real') THEN {expr} END"
    return f"TRY_CAST({expr} AS DOUBLE)"


@dataclass
class Layout:
    roles: Roles
    config: list[str]  # the configuration key columns
    config_from: str  # 'config_id' | 'parameters' | 'user' | 'none'
    parameters: list[str]  # shown beside the key (the key itself when it is made of parameters)
    versions: list[str]
    input_id: str | None
    replicate: list[str]
    error: str | None
    cache: str | None
    run: str | None
    function: str | None
    columns: dict[str, str] = field(default_factory=dict)  # name -> kind ('text', 'integer', 'real', ...)

    def _non_empty(self, column: str | None) -> str:
        """`column` holds a non-empty value; NULL counts as empty (a comparison with NULL is not true).
        Written plainly for text columns: SQLite evaluates it per row, and casts cost."""
        if not column:
            return "1 = 0"
        value = q(column) if self.columns.get(column) == "text" else as_text(q(column))
        return f"{value} <> ''"

    @property
    def replayed(self) -> str:
        return self._non_empty(self.cache)

    @property
    def failed(self) -> str:
        return self._non_empty(self.error)

    @property
    def fold(self) -> str | None:
        """The cross-validation fold column among the replicates: with it, rows are repeated k-fold CV."""
        return next((c for c in self.replicate if c.lower() == "fold"), None)

    @property
    def repetition(self) -> list[str]:
        """The replicate columns other than the fold (the seed of each repetition of the k-fold split)."""
        return [c for c in self.replicate if c != self.fold]

    @property
    def item_columns(self) -> list[str]:
        return [self.input_id, *self.replicate] if self.input_id else []

    def describe(self) -> dict:
        return {"configuration": self.config, "configuration_from": self.config_from,
                "parameters": self.parameters, "versions": self.versions, "input_id": self.input_id,
                "replicate": self.replicate, "item": self.item_columns, "cluster": self.replicate,
                "fold": self.fold,
                "error": self.error, "cache": self.cache}


def infer_layout(bench: Benchmark, input_col: str | None = None, config_cols: list[str] | None = None) -> Layout:
    roles = infer_roles(bench.columns, input_col=input_col, config_cols=config_cols)
    names = bench.column_names
    parameters = [p for p in roles.parameters if p != "config_id"]
    if config_cols:
        config, source = list(config_cols), "user"
        parameters = [p for p in config_cols]
    elif "config_id" in names:
        config, source = ["config_id"], "config_id"
    elif parameters:
        config, source = parameters, "parameters"
    else:
        config, source = [], "none"
    # A version column the user names as part of the configuration is compared, not stratified by.
    versions = [v for v in roles.version if v not in config]
    return Layout(
        roles=roles, config=config, config_from=source, parameters=parameters, versions=versions,
        input_id=roles.input_id, replicate=[r for r in roles.replicate if r not in config],
        error="error" if "error" in names else None, cache="cache" if "cache" in names else None,
        run="track_id" if "track_id" in names else None,
        function="function_name" if "function_name" in names else None,
        columns={c.name: c.kind for c in bench.columns},
    )


def require_column(layout: Layout, name: str, purpose: str) -> str:
    if name not in layout.columns:
        raise InputError(f"{purpose} column {name!r} not found; available: {', '.join(layout.columns)}")
    return name


def short_labels(named: list[dict]) -> list[str]:
    """Labels that name only what tells the items apart: `model=knn` rather than repeating `dataset=...,
    k_folds=5` on every row. A key is left out when it has one value across all items, or when the keys
    already kept determine it (a prompt text that always goes with its prompt name); all keys are kept
    if none differ."""
    keys = list(dict.fromkeys(k for d in named for k in d))
    kept: list[str] = []
    for k in keys:
        seen: dict[tuple, set] = {}
        for d in named:
            seen.setdefault(tuple(repr(d.get(j)) for j in kept), set()).add(repr(d.get(k)))
        if any(len(values) > 1 for values in seen.values()):
            kept.append(k)
    kept = kept or keys
    return [label(kept, [d.get(k) for k in kept]) for d in named]


MAX_SHOWN = 40  # characters of one value in a label; reports stay readable with long prompt texts


def label(columns: list[str], values: tuple | list) -> str:
    """`model=logreg, lr=0.1`: how a configuration or version is named in reports (one line, values cut)."""
    return ", ".join(f"{c}={_show(v)}" for c, v in zip(columns, values, strict=True))


def _show(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    text = " ".join(str(value).split())  # newlines would break a Markdown table row
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "…"
