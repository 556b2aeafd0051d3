"""Which source files are held out for evaluation: one rule for ingest and for folders.

Each file goes by a stable hash of its name (so adding files never moves the others),
then each label is checked: a label with two or more files gets at least one in each
split, so the eval split never holds a class the train split (and the schema inferred
from it) has never seen, and every class is evaluated.
"""
from __future__ import annotations

import zlib
from collections import defaultdict
from typing import Callable, Iterable


def _bucket(source: str) -> int:
    return zlib.crc32(source.encode()) % 100


def eval_sources(sources: Iterable[str], label_of: Callable[[str], str], eval_percent: int) -> set:
    """The sources (file names) that form the eval split, stratified by label_of(source)."""
    groups = defaultdict(list)
    for source in set(sources):
        groups[label_of(source)].append(source)
    held_out = set()
    for members in groups.values():
        members.sort(key=lambda s: (_bucket(s), s))
        chosen = [s for s in members if _bucket(s) < eval_percent]
        if len(members) >= 2 and not chosen:
            chosen = members[:1]
        elif len(members) >= 2 and len(chosen) == len(members):
            chosen = members[:-1]
        held_out.update(chosen)
    return held_out
