"""Training data: labeled pairs read from JSONL, checked once, split by query.

A pair file holds one JSON object per line with two texts (``query``/``document``, or
``text_a``/``text_b``, or ``sentence1``/``sentence2``) and a ``label``:

* ``relevance``: 0/1 or a graded integer (0 = not relevant);
* ``similarity``: a number, scaled to [0, 1] by the largest label seen (or ``label_max``);
* ``nli``: a label name (``"entailment"``) or an integer id into the label list.

Optional ``qid`` groups the pairs of one query (default: the query text); optional
``teacher_score`` (a finite number, written by ``xenc mine --teacher``) is what the
distillation losses (``mse``, ``margin-mse``) learn. Mined files also carry ``doc_id``,
``kind`` and ``first_stage_rank``: the rank (``null`` beyond the mined depth) is what
``xenc train`` scores the first stage by on the dev pairs, so that the trained model can be
compared with it; the others are kept for provenance only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xenc.errors import InputError, UsageError, param
from xenc.io.files import file_sha256, source_name
from xenc.io.pairs import read_pairs

TASKS = ("relevance", "similarity", "nli")


@dataclass(frozen=True)
class Pair:
    """One training example.

    Attributes:
        query: First text (the query, or sentence 1).
        document: Second text.
        label: The raw label: int grade (relevance), float (similarity), int id (nli).
        group: Pairs of one query share a group (``qid`` or the query text).
        teacher: The teacher's score (``teacher_score``), for distillation; else ``None``.
        first_stage_rank: The document's rank in the first stage (``first_stage_rank`` of a
            mined pair), ``None`` when not retrieved or not known.
    """

    query: str
    document: str
    label: float
    group: str
    teacher: float | None = None
    first_stage_rank: int | None = None


def _number(value: Any, where: tuple[str, int], *, integer: bool) -> float:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(*where, f'"label" must be {kind}, got {value!r}')
    if not math.isfinite(float(value)):
        raise InputError(*where, f'"label" must be a finite number, got {value!r}')
    if integer and float(value) != int(value):
        raise InputError(*where, f'"label" must be {kind} for relevance, got {value!r}')
    if integer and value < 0:
        raise InputError(*where, f'"label" must be 0 or more for relevance, got {value!r}')
    return float(value)


def parse_label(
    value: Any, task: str, where: tuple[str, int], labels: Sequence[str] | None = None
) -> float | str:
    """Check one label for ``task``; nli labels come back as names (or int ids as floats).

    Raises:
        InputError: ``source:line: reason`` for a missing, non-numeric, NaN or unknown label.
    """
    if task == "relevance":
        return _number(value, where, integer=True)
    if task == "similarity":
        return _number(value, where, integer=False)
    if isinstance(value, str) and value.strip():
        name = value.strip()
        if labels is not None and name not in labels:
            raise InputError(*where, f'unknown label "{name}": expected one of {", ".join(labels)}')
        return name
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or (labels is not None and value >= len(labels)):
            raise InputError(*where, f"label id {value} out of range")
        return float(value)
    raise InputError(*where, f'"label" must be a label name or an integer id, got {value!r}')


Row = tuple[str, str, float | str, str, float | None, int | None]


def _teacher(obj: dict[str, Any], where: tuple[str, int]) -> float | None:
    value = obj.get("teacher_score")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(*where, f'"teacher_score" must be a number, got {value!r}')
    if not math.isfinite(float(value)):
        raise InputError(*where, f'"teacher_score" must be a finite number, got {value!r}')
    return float(value)


def _rank(obj: dict[str, Any], where: tuple[str, int]) -> int | None:
    value = obj.get("first_stage_rank")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(*where, f'"first_stage_rank" must be a rank (1 or more) or null, '
                                 f"got {value!r}")
    return value


def read_labeled_pairs(
    source: str | os.PathLike[str], task: str, labels: Sequence[str] | None = None
) -> list[Row]:
    """Read and check a pair file (:func:`xenc.io.pairs.read_pairs`: JSONL, or Parquet) and
    its labels: ``(query, document, label, group, teacher, first_stage_rank)`` tuples.

    Raises:
        InputError: a missing file, bad JSON, missing texts or label, a bad label, no pairs.
        UsageError: an unknown task.
    """
    if task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, not {task!r}")
    rows: list[Row] = []
    for where, obj, (query, document) in read_pairs(source):
        if "label" not in obj:
            raise InputError(*where, 'missing field "label"')
        label = parse_label(obj["label"], task, where, labels)
        group = obj.get("qid", query)
        rows.append((query, document, label, str(group), _teacher(obj, where),
                     _rank(obj, where)))
    if not rows:
        raise InputError(source_name(source), None, "no training pairs")
    return rows


def nli_labels(rows: Iterable[tuple[Any, ...]], given: Sequence[str] | None) -> list[str]:
    """The nli label names: ``given``, else the names seen, sorted.

    Raises:
        UsageError: integer ids in the data without ``--labels`` to name them.
    """
    if given:
        return list(given)
    names = {r[2] for r in rows if isinstance(r[2], str)}
    if any(not isinstance(r[2], str) for r in rows) or not names:
        raise UsageError("nli data with integer label ids needs --labels NAME,NAME,NAME")
    return sorted(names)


def to_pairs(rows: Iterable[Row], labels: Sequence[str] | None = None) -> list[Pair]:
    """Turn checked rows into :class:`Pair` records (nli names become ids)."""
    index = {name: i for i, name in enumerate(labels or ())}
    out = []
    for query, document, label, group, teacher, rank in rows:
        value = float(index[label]) if isinstance(label, str) else float(label)
        out.append(Pair(query, document, value, group, teacher, rank))
    return out


def split_by_group(
    pairs: Sequence[Pair], fraction: float, seed: int
) -> tuple[list[Pair], list[Pair]]:
    """Hold out about ``fraction`` of the groups (queries) as dev, deterministically.

    Raises:
        UsageError: ``fraction`` outside (0, 1) or too few groups to split.
    """
    if not 0.0 < fraction < 1.0:
        raise UsageError(f"{param('dev_fraction')} must be a fraction in (0, 1), "
                         f"not {fraction!r}")
    groups = sorted({p.group for p in pairs})
    if len(groups) < 2:
        raise UsageError(f"{param('dev_fraction')} needs pairs of at least two queries")
    rng = np.random.default_rng(seed)
    order = [groups[i] for i in rng.permutation(len(groups))]
    n_dev = min(len(groups) - 1, max(1, round(fraction * len(groups))))
    dev = set(order[:n_dev])
    return [p for p in pairs if p.group not in dev], [p for p in pairs if p.group in dev]


def describe(path: str | os.PathLike[str] | None, count: int, role: str) -> dict[str, Any]:
    """Provenance of one data file: role, path, sha256 and the number of pairs read."""
    if path is None:
        return {"role": role, "path": None, "sha256": None, "pairs": count}
    p = Path(path)
    digest = file_sha256(p) if p.is_file() else None
    return {"role": role, "path": str(path), "sha256": digest, "pairs": count}
