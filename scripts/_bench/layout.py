"""What every column of a benchmark table is for: the one role inference all three scripts share.

Roles, from xetrack's layout and common benchmark names (each reported back, each overridable):
- bookkeeping (track_id, timestamp, function_name, args, kwargs, error, function_time, cache) and system
  sampling columns;
- version: experiment_version, git hashes, *_version, data fingerprints. Rows of different versions are
  never pooled; a version column named in --config-cols is compared instead;
- input: the input id (input_id, item_id, ...); replicate: seed, fold, repeat ...; split: train/test;
- outcome: what a run measured (predictions, correct_*, scores, nll, brier, cost, latency*, tokens ...);
- asset: `*_asset` columns hold xetrack asset hashes by design (a fitted model);
- provenance: where a row was computed (host, worker, shard). It may differ per machine of one benchmark,
  so it is neither configuration nor version: a sharded run validates and is summarised as one benchmark;
- parameter: the rest — text and integer columns, and real columns named like a hyperparameter.
The configuration is `config_id` when present (benchkit's content hash), else the parameters; --config-cols
wins. Replicate columns are never part of it: every configuration shares them.

A row is *replayed* when `cache` holds a track_id (xetrack 0.7.0 logs a cache hit that way), *computed*
otherwise ('' or NULL); it *failed* when `error` is not empty. Every predicate here is TRUE or FALSE, never
NULL, so `NOT (...)` and `CASE WHEN` mean what they say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from _bench.disguised_outcomes import disguised_outcomes, varying_within_config_id
from _bench.reader import Benchmark, Column, InputError
from _bench.sql import as_text, non_empty, q

BOOKKEEPING = ("track_id", "timestamp", "function_name", "args", "kwargs", "error", "function_time", "cache")
SYSTEM = ("cpu_percent", "ram_percent", "p_memory_percent", "disk_percent", "cpu", "memory_percent",
          "bytes_sent", "bytes_recv")
VERSION_NAMES = ("git_commit_hash", "git_hash", "git_commit", "commit", "code_version", "data_version",
                 "dataset_version", "experiment_version", "version", "data_hash", "dataset_hash",
                 "data_fingerprint", "dataset_fingerprint", "xetrack_version", "sklearn_version")
INPUT_NAMES = ("input_id", "item_id", "example_id", "sample_id", "datapoint_id", "question_id", "prompt_id",
               "request_id", "row_id", "idx", "id")
# Otherwise a column named <thing>_id (ticket_id, doc_id, image_id) is the input id when it is the only such
# column and <thing> names no part of a configuration, a run or where it ran (these stay what they are).
NOT_INPUT_ID = re.compile(
    r"^(config|configuration|cfg|model|run|experiment|exp|dataset|data|checkpoint|ckpt|variant|version|track|"
    r"job|worker|shard|host|node|process|thread|trial|seed|fold|split|template|prompt_template|system_prompt|"
    r"tokenizer|engine|provider|deployment|endpoint|payload|level|arm|treatment|group|condition)_id$",
    re.IGNORECASE)
REPLICATE_NAMES = ("seed", "random_state", "replicate", "repeat", "repetition", "trial", "fold", "run_index",
                   "sample_idx", "sample_index")  # the last two: K samples per question
SAMPLE_COLUMN = "sample"  # a replicate when it holds integers (sample 0, 1, 2 of one question); text is data
SPLIT_NAMES = ("split", "subset", "partition", "data_split")
# A configuration column naming the dataset: each dataset brings its own inputs, so configurations are compared
# (and coverage judged) within it, not across it (validate's coverage, export's unequal-items).
STRATUM_NAMES = ("dataset", "dataset_name", "benchmark", "task", "task_name", "corpus", "domain", "language",
                 "lang", "suite", "collection")


def strata(config: list[str]) -> list[str]:
    """The configuration columns named like a dataset (STRATUM_NAMES), when others vary beside them."""
    return [c for c in config if c.lower() in STRATUM_NAMES] if len(config) > 1 else []
# A row's position (a load test's request k), or which body of a payload pool it sent: neither an input to pair
# levels on nor configuration.
INDEX_NAMES = ("seq", "sequence", "request_seq", "request_index", "payload_id")
# Where a row ran: differs between the machines or shards of one benchmark (one environment), never compared.
PROVENANCE_NAMES = ("host", "hostname", "host_name", "node_name", "worker", "worker_id", "worker_host",
                    "shard", "shard_id", "pid")
GROUND_TRUTH_NAMES = ("ground_truth", "y_true", "true_label", "gold", "gold_label", "target", "expected",
                      "expected_output", "label", "labels", "reference", "answer_key")  # expected_output: function template
TRAIN_VALUES = ("train", "training", "trn", "fit")
EVAL_VALUES = ("test", "testing", "tst", "eval", "evaluation", "val", "valid", "validation", "dev", "holdout")
# A load test's request table: when each request was due (open loop) beside how long it took.
LOAD_SCHEDULE_NAMES = ("scheduled_s", "intended_s", "send_lag_ms", "intended_send_s")
ASSET_PATTERN = re.compile(r"^(.*_asset|asset_.*)$", re.IGNORECASE)
OUTCOME_PATTERN = re.compile(
    r"^(y_pred|y_true|y_prob|pred|preds|prediction|predicted(_.*)?|label|labels|true_label|ground_truth|target|"
    r"expected|gold|answer|parsed_answer|output|outputs|result|function_result|response|response_body|raw_.*|"
    r"correct|is_correct|correct_.*|.*_correct|exact_match|em|"
    r"score|scores|confidence|prob|proba|probability|probabilities|p_true|p_pred|"
    r"accuracy|acc|loss|log_loss|logloss|nll|brier|brier_score|ece|f1|precision|recall|auc|roc_auc|"
    r"mae|mse|rmse|bleu|rouge.*|chrf.*|meteor|bertscore.*|wer|cer|perplexity|ppl|"
    # ranking, retrieval, pass/fail and judged outcomes: hit@10 is logged as hit_at_10 or hits_at_10
    r"hit|hits|hit_rate|.*_at_\d+|.*_at_k|.*@\d+|ndcg.*|mrr.*|map|reciprocal_rank|success|succeeded|passed|"
    r"pass_rate|pass_at_.*|win|won|wins|win_rate|reward|rating|grade|judge_.*|.*_judgment|.*_judgement|"
    r".*_recall|.*_precision|.*_hit|.*_hits|.*_ndcg|.*_mrr|.*_reward|.*_rating|"
    r"status|status_code|finish_reason|retries|n_retries|attempts|parse_.*|tokens|bytes|.*_tokens|raised|"
    r"timed_out|error_type|output|expected_output|"
    r"cost|cost_.*|.*_cost|latency|latency.*|.*_latency|.*_time|.*_ms|.*_us|.*_ns|.*_seconds|.*_s|duration|.*_duration|"
    r".*_score|.*_accuracy|.*_loss|.*_nll|.*_brier|.*_f1|.*_prob|.*_proba|.*_bytes|n_.*|num_.*|.*_count|"
    r".*_error|error_.*|.*_asset|.*_hash|.*_digest)$",
    re.IGNORECASE,
)
HYPERPARAMETER_PATTERN = re.compile(
    r"^(lr|learning_rate|alpha|c|gamma|temperature|top_p|top_k|threshold|dropout|weight_decay|momentum|eps|"
    r"l1_ratio|penalty|max_depth|n_estimators|rate|target_rate|.*_rate|.*_lr|max_tokens|max_new_tokens)$",
    re.IGNORECASE,
)


@dataclass
class Roles:
    """How each column of a benchmark table is understood. Every field can be overridden by the user."""

    bookkeeping: list[str] = field(default_factory=list)
    system: list[str] = field(default_factory=list)
    version: list[str] = field(default_factory=list)
    input_id: str | None = None
    replicate: list[str] = field(default_factory=list)
    split: str | None = None
    parameters: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)
    # <thing>_id columns that could be the input id when no known name is present (used when there is one)
    input_candidates: list[str] = field(default_factory=list)
    # parameters by name whose values showed them to be outcomes: one value per item (disguised_outcomes.py)
    outcomes_by_values: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"input_id": self.input_id, "parameters": self.parameters, "replicate": self.replicate,
                "version": self.version, "split": self.split, "outcomes": self.outcomes, "assets": self.assets,
                "bookkeeping": self.bookkeeping, "system": self.system, "provenance": self.provenance}


def infer_roles(columns: Sequence[Column], input_col: str | None = None,
                config_cols: Sequence[str] | None = None, replicate_cols: Sequence[str] | None = None) -> Roles:
    """Classify columns by xetrack's layout and common benchmark names.

    Parameters are the columns that are neither bookkeeping, version, input, replicate, split, outcome nor
    asset: text and integer columns by default, real columns only when named like a hyperparameter (lr,
    alpha, temperature, ...), since measurements are mostly real. `config_cols`/`input_col` override the guess.
    """
    names = [c.name for c in columns]
    lower = {n.lower(): n for n in names}
    for given in [input_col, *(config_cols or []), *(replicate_cols or [])]:
        if given is not None and given not in names:
            raise InputError(f"column {given!r} not found; available: {', '.join(names)}")
    roles = Roles()
    roles.bookkeeping = [n for n in names if n in BOOKKEEPING]
    roles.system = [n for n in names if n in SYSTEM]
    roles.provenance = [n for n in names if n.lower() in PROVENANCE_NAMES and n not in (config_cols or ())]
    roles.version = [n for n in names if n.lower() in VERSION_NAMES or n.lower().endswith("_version")]
    roles.input_id = input_col or next((lower[c] for c in INPUT_NAMES if c in lower), None)
    roles.split = next((lower[c] for c in SPLIT_NAMES if c in lower), None)
    if replicate_cols:
        roles.replicate = list(replicate_cols)
    else:
        roles.replicate = [c.name for c in columns if c.name.lower() in REPLICATE_NAMES
                           or (c.name.lower() == SAMPLE_COLUMN and c.kind == "integer")]
    taken = set(roles.bookkeeping) | set(roles.system) | set(roles.version) | set(roles.replicate)
    taken |= set(roles.provenance)
    if roles.input_id is None:
        roles.input_candidates = [n for n in names if n.lower().endswith("_id") and n not in taken
                                  and n not in (config_cols or ()) and n.lower() not in INDEX_NAMES
                                  and n != roles.split and not NOT_INPUT_ID.match(n)]
        if len(roles.input_candidates) == 1:
            roles.input_id = roles.input_candidates[0]
    taken |= {roles.input_id, roles.split, "_shard"} | {n for n in names if n.lower() in INDEX_NAMES}
    rest = [c for c in columns if c.name not in taken]
    roles.assets = [c.name for c in rest if ASSET_PATTERN.match(c.name) and c.name not in (config_cols or ())]
    if config_cols is not None:
        roles.parameters = [n for n in config_cols if n not in roles.replicate]
        roles.replicate = [n for n in roles.replicate if n not in config_cols] + \
            [n for n in config_cols if n in roles.replicate]
    else:
        roles.parameters = [
            c.name for c in rest
            if HYPERPARAMETER_PATTERN.match(c.name)  # before outcomes: max_tokens is a setting, not a count
            or (not OUTCOME_PATTERN.match(c.name) and c.kind in ("text", "integer", "unknown"))
        ]
    roles.outcomes = [c.name for c in rest if c.name not in roles.parameters and c.name not in roles.assets]
    return roles


@dataclass
class Layout:
    """Which column plays which part in one benchmark table; every choice is reported so it can be overridden."""

    roles: Roles
    config: list[str]  # the configuration key columns
    config_from: str  # 'config_id' | 'parameters' | 'user' | 'none'
    parameters: list[str]  # shown beside the key (the key itself when it is made of parameters)
    versions: list[str]  # stratified by: never pooled
    input_id: str | None
    replicate: list[str]
    split: str | None
    ground_truth: str | None
    error: str | None
    cache: str | None
    run: str | None
    function: str | None
    kind: str  # 'load' (a load test's request table) | 'benchmark'
    all_columns: list[Column] = field(default_factory=list)
    # --config-cols given: the columns named like parameters it leaves out (each may vary within a configuration)
    left_out: list[str] = field(default_factory=list)
    # export_summary --pool: parameters a configuration's numbers are pooled over; part of the item, so pairs
    # match on them, and each input's mean over them is the unit
    pooled: list[str] = field(default_factory=list)
    # export_summary --by: columns each of whose values is reported on its own, like a version (a slice of the
    # inputs: a category, a language); the last entries of `versions` once the report is stratified
    slices: list[str] = field(default_factory=list)

    @cached_property
    def columns(self) -> dict[str, str]:
        """name -> kind ('text', 'integer', 'real', ...)."""
        return {c.name: c.kind for c in self.all_columns}

    # --- row predicates (TRUE or FALSE, never NULL) ----------------------------------------------------
    def _non_empty(self, column: str | None) -> str:
        return non_empty(column, is_text=not column or self.columns.get(column, "text") == "text")

    @property
    def replayed(self) -> str:
        return self._non_empty(self.cache)

    @property
    def computed(self) -> str:
        return f"(NOT {self.replayed})"

    @property
    def failed(self) -> str:
        return self._non_empty(self.error)

    @property
    def succeeded(self) -> str:
        return f"(NOT {self.failed})"

    @property
    def computed_ok(self) -> str:
        return f"({self.computed} AND {self.succeeded})"

    def no_configuration(self) -> str:
        """The row carries no configuration at all: every key and parameter column is NULL."""
        cols = list(dict.fromkeys(self.config + self.parameters))
        return "(" + " AND ".join(f"{q(c)} IS NULL" for c in cols) + ")" if cols else "(1 = 0)"

    # --- what one paired unit is -----------------------------------------------------------------------
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
        """One paired unit: (input, seed, fold, pooled values); none without an input id."""
        return [self.input_id, *self.replicate, *self.pooled] if self.input_id else []

    def item_key_columns(self, with_split: bool = True) -> list[str]:
        """The columns item_key joins with '|', in its order: how to read an example such as `0|1|4`."""
        if not self.input_id:
            return []
        return [self.input_id, *self.replicate, *([self.split] if with_split and self.split else [])]

    def item_key(self, with_versions: bool = False, with_split: bool = True) -> str | None:
        """One SQL value per item, for COUNT(DISTINCT ...): the input id within its replicate and split (a
        training-set and a test-set prediction of one input are two executions), optionally its version."""
        if not self.input_id:
            return None
        parts = [*self.item_key_columns(with_split), *(self.versions if with_versions else [])]
        if len(parts) == 1:
            return q(self.input_id)
        # In the order reports name an item (input, seed, fold, ...), so an example reads as it is described.
        joined = " || '|' || ".join(f"COALESCE({as_text(q(c))}, '')" for c in parts)
        return f"CASE WHEN {q(self.input_id)} IS NULL THEN NULL ELSE {joined} END"

    @property
    def profiled(self) -> list[Column]:
        """Data columns whose stored values are type-checked (not bookkeeping, system or the config hash)."""
        skip = set(self.roles.bookkeeping) | set(self.roles.system) | {"_shard", "config_id"}
        return [c for c in self.all_columns if c.name not in skip]

    def describe(self) -> dict:
        item_key = [*self.item_columns, *([self.split] if self.split and self.input_id else [])]
        return {"configuration": self.config, "configuration_from": self.config_from,
                "parameters": self.parameters, "versions": self.versions, "input_id": self.input_id,
                "replicate": self.replicate, "item": self.item_columns, "item_key": item_key, "cluster": self.replicate,
                "fold": self.fold, "split": self.split, "ground_truth": self.ground_truth, "pooled": self.pooled,
                "outcomes": self.roles.outcomes, "outcomes_by_values": self.roles.outcomes_by_values,
                "assets": self.roles.assets, "kind": self.kind, "error": self.error, "cache": self.cache}


def labels_note(described: dict) -> str:
    """For the reports' inferred line: the parameters a config_id key is labelled by, so that a result taken
    for a parameter shows before it appears in every label."""
    shown = described.get("parameters") or []
    return f", labelled by {', '.join(shown)}" if described.get("configuration_from") == "config_id" and shown else ""


def moved_note(described: dict) -> str:
    """For the reports' inferred line: the columns named like parameters that their values showed are outcomes."""
    moved = described.get("outcomes_by_values") or []
    if not moved:
        return ""
    return (f"; {', '.join(moved)} taken as {'an outcome' if len(moved) == 1 else 'outcomes'}: one value per item "
            "within a configuration")


def infer_layout(bench: Benchmark, input_col: str | None = None, config_cols: list[str] | None = None,
                 replicate_cols: list[str] | None = None) -> Layout:
    roles = infer_roles(bench.columns, input_col=input_col, config_cols=config_cols, replicate_cols=replicate_cols)
    names = bench.column_names
    if config_cols is None and roles.input_id:
        named = [p for p in roles.parameters if p != "config_id"]
        fixed = [p for p in named if HYPERPARAMETER_PATTERN.match(p)]
        moved = disguised_outcomes(bench, [p for p in named if p not in fixed], fixed,
                                   [roles.input_id, *roles.replicate])
        roles.parameters = [p for p in roles.parameters if p not in moved]
        roles.outcomes = [c.name for c in bench.columns if c.name in set(roles.outcomes) | set(moved)]
        roles.outcomes_by_values = moved
    parameters = [p for p in roles.parameters if p != "config_id"]
    left_out: list[str] = []
    if config_cols:
        config, source = list(config_cols), "user"
        parameters = list(config_cols)
        by_name = infer_roles(bench.columns, input_col=input_col, replicate_cols=replicate_cols).parameters
        left_out = [p for p in by_name if p not in config_cols and p != "config_id"]
    elif "config_id" in names:
        config, source = ["config_id"], "config_id"
        item_fields = varying_within_config_id(bench, parameters)
        parameters = [p for p in parameters if p not in item_fields]
    elif parameters:
        config, source = parameters, "parameters"
    else:
        config, source = [], "none"
    lower = {n.lower(): n for n in roles.outcomes}
    return Layout(
        roles=roles, config=config, config_from=source, parameters=parameters,
        # A version column the user names as part of the configuration is compared, not stratified by.
        versions=[v for v in roles.version if v not in config],
        input_id=roles.input_id, replicate=[r for r in roles.replicate if r not in config], split=roles.split,
        ground_truth=next((lower[g] for g in GROUND_TRUTH_NAMES if g in lower), None),
        error="error" if "error" in names else None, cache="cache" if "cache" in names else None,
        run="track_id" if "track_id" in names else None,
        function="function_name" if "function_name" in names else None,
        kind=table_kind(names), all_columns=list(bench.columns), left_out=left_out,
    )


def table_kind(names: list[str]) -> str:
    """'load' for a load test's request table (a latency beside when each request was due), else 'benchmark'."""
    lower = {n.lower() for n in names}
    has_latency = any(n.startswith("latency") for n in lower)
    return "load" if has_latency and lower & set(LOAD_SCHEDULE_NAMES) else "benchmark"


def require_column(layout: Layout, name: str, purpose: str) -> str:
    if name not in layout.columns:
        raise InputError(f"{purpose} column {name!r} not found; available: {', '.join(layout.columns)}")
    return name


# --- how configurations are named in every report ------------------------------------------------------

MAX_SHOWN = 40  # characters of one value in a label; reports stay readable with long prompt texts


def label(columns: list[str], values: tuple | list) -> str:
    """`model=logreg, lr=0.1`: how a configuration or version is named in every report (one line, values cut).
    The same text is accepted back by --reference; '' when there are no columns."""
    return ", ".join(f"{c}={_show(v)}" for c, v in zip(columns, values, strict=True))


def structured(value) -> dict | None:
    """A parameter value that holds several named values, as a dict: JSON text of an object, or of a list of
    [name, value] pairs (the sklearn template's `hyperparameters`, `[["C", 0.1]]`), with plain values; else
    None."""
    if not isinstance(value, str) or value[:1] not in "[{":
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if isinstance(parsed, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                        for p in parsed):
        parsed = dict(parsed)
    if isinstance(parsed, dict) and all(not isinstance(v, (dict, list)) for v in parsed.values()):
        return parsed
    return None


def unpacked(shown: dict) -> dict:
    """A configuration's parameters for its label, with structured values (structured()) as their own names:
    `model=svm, C=1` rather than `model=svm, hyperparameters=[["C", 1]]` (trial M); a name that another
    parameter already has is `hyperparameters.C`. The full key stays accepted by --pairs."""
    out: dict = {}
    for name, value in shown.items():
        inner = structured(value)
        if inner is None:
            out[name] = value
            continue
        for key, v in inner.items():
            out[key if key not in shown and key not in out else f"{name}.{key}"] = v
    return out


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
    # a name a configuration does not have (a hyperparameter of another model) is left out of its label
    return [label([k for k in kept if k in d], [d[k] for k in kept if k in d]) for d in named]


def _show(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    text = " ".join(str(value).split())  # newlines would break a Markdown table row
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "…"


# --- how every script states a sample size -------------------------------------------------------------

def replicate_unit(described: dict) -> str:
    """What one replicate is called, from a described layout: 'seeds' for a seed column (the fold of
    repeated CV splits an input's seed run, it does not repeat the input)."""
    columns = [c for c in described["replicate"] if c != described["fold"]]
    if len(columns) == 1:
        return columns[0] if columns[0].endswith("s") else f"{columns[0]}s"
    return f"({', '.join(columns)}) combinations" if columns else "replicates"


def fold_sample_size(items: int, replicates: int | None, unit: str = "seeds") -> str:
    """'15 folds (3 seeds x 5 folds)': a table with one row per fold (a per-fold scores table), whose items are
    the folds themselves; its input column names the fold, so counting 'inputs' there would mislead."""
    if replicates and items % replicates == 0:
        return f"{items:,} folds ({replicates:,} {unit} x {items // replicates:,} folds)"
    return f"{items:,} folds ({replicates or 1:,} {unit})"


def items_are_folds(described: dict, config: dict) -> bool:
    """Whether a configuration's items are folds: repeated CV with every item its own (seed, fold) cluster and
    its own input (a per-fold table: accuracy per fold), not examples seen in every seed."""
    items = config.get("items")
    return bool(described.get("fold")) and bool(items) and config.get("clusters") == items == config.get("inputs")


def sample_size(items: int, inputs: int | None, replicates: int | None, unit: str = "replicates") -> str:
    """'569 inputs x 3 seeds (1,707 items)': with replicates, n items are not n independent inputs."""
    if inputs is None or replicates is None:
        return f"{items:,} items"
    if inputs * replicates == items:
        return f"{inputs:,} inputs x {replicates:,} {unit} ({items:,} items)"
    return f"{items:,} items ({inputs:,} inputs, {replicates:,} {unit})"
