"""Where training and dev pairs come from: a pair file, or mining an index with qrels.

:func:`load_data` returns the train and dev pairs, the nli label names and the provenance
records (file, sha256, counts) that go into the model card.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xenc.errors import InputError, UsageError
from xenc.io.corpus import read_queries
from xenc.io.qrels import read_qrels
from xenc.training.data import (
    Pair,
    describe,
    nli_labels,
    read_labeled_pairs,
    split_by_group,
    to_pairs,
)
from xenc.training.mining import MineParams, mine

log = logging.getLogger("xenc")
Rows = list[tuple[str, str, Any, str, float | None, int | None]]


@dataclass
class Data:
    """Train and dev pairs with their label names and provenance."""

    train: list[Pair]
    dev: list[Pair]
    labels: list[str] | None
    provenance: list[dict[str, Any]]


def mined_rows(
    index_dir: Path, queries: Path, qrels: Path, params: MineParams, *,
    manifest: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Open the index and yield the mined records (see :func:`xenc.training.mine`).

    ``manifest``, when given, receives the opened index's manifest (for provenance).
    """
    from xenc.pipeline import open_index

    judged = read_qrels(qrels)
    todo = list(read_queries(queries))
    index = open_index(index_dir)
    try:
        if manifest is not None:
            manifest.update(index.manifest)
        yield from mine(index, todo, judged, params)
    finally:
        index.close()


def _index_provenance(index_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    corpus = manifest.get("corpus", {})
    return {"role": "index", "path": str(index_dir), "sha256": corpus.get("sha256"),
            "pairs": None, "corpus": corpus.get("source"), "counts": manifest.get("counts")}


def _mine_rows(
    config: Any, queries: Path, qrels: Path, role: str
) -> tuple[Rows, list[dict[str, Any]]]:
    manifest: dict[str, Any] = {}
    records = list(mined_rows(config.index_dir, queries, qrels, config.mine, manifest=manifest))
    if not records:
        raise InputError(str(qrels), None, "no query with a relevant judged document to mine")
    rows: Rows = [(r["query"], r["document"], float(r["label"]), r["qid"],
                  r.get("teacher_score"), r.get("first_stage_rank")) for r in records]
    kinds: dict[str, int] = {}
    for r in records:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    prov = [describe(queries, len(rows), f"{role} queries"), describe(qrels, len(rows), role)]
    prov[1]["mined"] = kinds
    if role == "train":
        prov.insert(0, _index_provenance(config.index_dir, manifest))
    return rows, prov


def _train_rows(config: Any) -> tuple[Rows, list[dict[str, Any]]]:
    mined = config.index_dir is not None
    if mined == (config.train_file is not None):
        raise UsageError("give a pair file or --index-dir with --queries and --qrels, not both")
    if not mined:
        rows = read_labeled_pairs(config.train_file, config.task, config.labels or None)
        return rows, [describe(config.train_file, len(rows), "train")]
    if config.queries is None or config.qrels is None:
        raise UsageError("--index-dir needs --queries and --qrels")
    if config.task != "relevance":
        raise UsageError("mined pairs (--index-dir) train --task relevance only")
    return _mine_rows(config, config.queries, config.qrels, "train")


def _dev_rows(config: Any) -> tuple[Rows | None, list[dict[str, Any]]]:
    given = [x is not None for x in (config.dev_file, config.dev_fraction, config.dev_queries)]
    if sum(given) > 1:
        raise UsageError("choose one of --dev, --dev-fraction and --dev-queries/--dev-qrels")
    if (config.dev_queries is None) != (config.dev_qrels is None):
        raise UsageError("--dev-queries and --dev-qrels go together")
    if config.dev_file is not None:
        rows = read_labeled_pairs(config.dev_file, config.task, config.labels or None)
        return rows, [describe(config.dev_file, len(rows), "dev")]
    if config.dev_queries is not None:
        if config.index_dir is None:
            raise UsageError("--dev-queries/--dev-qrels need --index-dir")
        return _mine_rows(config, config.dev_queries, config.dev_qrels, "dev")
    return None, []


def load_data(config: Any) -> Data:
    """Read (or mine) the train and dev pairs a :class:`TrainConfig` asks for.

    Raises:
        UsageError: conflicting or missing data options.
        InputError: bad data, located by file and line.
    """
    rows, provenance = _train_rows(config)
    dev_rows, dev_prov = _dev_rows(config)
    labels = None
    if config.task == "nli":
        labels = nli_labels(rows + (dev_rows or []), config.labels)
    train = to_pairs(rows, labels)
    dev = to_pairs(dev_rows, labels) if dev_rows is not None else []
    if config.dev_fraction is not None:
        train, dev = split_by_group(train, config.dev_fraction, config.seed)
        dev_prov = [{"role": "dev", "path": None, "sha256": None, "pairs": len(dev),
                     "split": f"{config.dev_fraction} of the training queries"}]
    return Data(train, dev, labels, provenance + dev_prov)
