"""--reference: which configuration the others are compared with, when the question is "is X better than Y"
rather than "what is best".

A configuration is named by the label the report prints (`model=svm`), by its full key (`model=svm,
lr=0.1`) or, when configurations come from a config_id column, by that id.
"""

from __future__ import annotations

from _bench.layout import Layout, label
from _bench.reader import InputError
from _bench.summary.compute import ConfigSummary


def _names(c: ConfigSummary, layout: Layout, shown: str) -> set[str]:
    names = {shown, label(layout.config, c.group.config)}
    if layout.config_from == "config_id":
        names |= {str(v) for v in c.group.config}
    return names


def reference_index(configs: list[ConfigSummary], layout: Layout, shown: dict[int, str], value: str) -> int | None:
    """The index of the one configuration of a version called `value`; None when no configuration is."""
    matches = [c.index for c in configs if value in _names(c, layout, shown[c.index])]
    if len(matches) > 1:
        raise InputError(f"--reference {value!r} names {len(matches)} configurations; give the full key "
                         f"({'; '.join(label(layout.config, c.group.config) for c in configs if c.index in matches)})")
    return matches[0] if matches else None


def unknown_reference(value: str, shown: dict[int, str]) -> InputError:
    listing = "; ".join(dict.fromkeys(shown.values()))
    return InputError(f"--pairs {value!r} matches no configuration; available: {listing}")
