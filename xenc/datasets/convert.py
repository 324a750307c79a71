"""Convert a dataset folder into xenc's ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv``.

Output, written atomically (everything is parsed into a temporary folder next to the target;
the three files are moved into place only when all of it succeeded, and other files already
in the target folder are left alone):

* ``corpus.jsonl``: ``{"id", "title"?, "text", ...metadata}`` per line; a repeated document
  id keeps its first record (LISA repeats four), a document with no text at all is skipped;
* ``queries.jsonl``: ``{"id", "text"}``; for BEIR only the queries judged in the chosen split,
  for the classic collections all of them (evaluation ignores unjudged ones);
* ``qrels.tsv``: BEIR TSV ``query-id corpus-id score`` with integer grades, sorted.

Judgment ids are matched to corpus and query ids exactly, else numerically (CACM's qrels
write query ``01`` for ``.I 1``), and written in the corpus/query form. Judgments of a query
that has no text are dropped; those of a document missing from the corpus are kept (they
still count as relevant) and counted in :attr:`ConvertSummary.missing_docs`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Collection as Container
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xenc.datasets.adapters import open_collection
from xenc.datasets.collection import Collection
from xenc.errors import InputError, UsageError
from xenc.io.jsonl import dumps
from xenc.io.qrels import Qrels, write_qrels_tsv

logger = logging.getLogger("xenc.datasets")

OUTPUT_FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")
_DIGITS = re.compile(r"[0-9]+")


@dataclass
class ConvertSummary:
    """What :func:`convert` wrote.

    Attributes:
        name: The collection (its folder's name).
        docs: Documents written.
        queries: Queries written.
        judged_queries: Written queries that have at least one judgment.
        qrels: Judgment lines written.
        out_dir: The output folder.
        fmt: The format the source was read as.
        split: The BEIR split used (``None`` for single-split collections).
        source_queries: Queries in the source (BEIR writes only the judged ones).
        duplicate_docs: Repeated document ids skipped (first record kept).
        empty_docs: Documents skipped for having neither text nor title.
        empty_queries: Queries skipped for having no text.
        missing_docs: Judgments kept whose document is not in the corpus.
        dropped_qrels: Judgments dropped because their query is not in the queries.
    """

    name: str
    docs: int
    queries: int
    judged_queries: int
    qrels: int
    out_dir: Path
    fmt: str = ""
    split: str | None = None
    source_queries: int = 0
    duplicate_docs: int = 0
    empty_docs: int = 0
    empty_queries: int = 0
    missing_docs: int = 0
    dropped_qrels: int = 0

    def describe(self) -> str:
        """One line for a person: counts, then any anomalies worth knowing about."""
        split = f" ({self.split})" if self.split else ""
        parts = [
            f"{self.name} [{self.fmt}{split}] -> {self.out_dir}: {self.docs} docs, "
            f"{self.queries} queries ({self.judged_queries} judged, "
            f"{self.source_queries} in source), {self.qrels} judgments"
        ]
        for label, value in (
            ("duplicate doc ids skipped", self.duplicate_docs),
            ("empty docs skipped", self.empty_docs),
            ("empty queries skipped", self.empty_queries),
            ("judgments for docs not in corpus", self.missing_docs),
            ("judgments for unknown queries dropped", self.dropped_qrels),
        ):
            if value:
                parts.append(f"{label}: {value}")
        return "; ".join(parts)


class _Resolver:
    """Map a judgment's id to a known id: exactly, else by numeric value (``01`` → ``1``)."""

    def __init__(self, ids: Container[str]) -> None:
        self._ids = ids
        self._numeric: dict[str, str] | None = None

    def __call__(self, value: str) -> str | None:
        if value in self._ids:
            return value
        if not _DIGITS.fullmatch(value):
            return None
        if self._numeric is None:
            numeric: dict[str, str] = {}
            for known in self._ids:
                if _DIGITS.fullmatch(known):
                    numeric.setdefault(_number(known), known)
            self._numeric = numeric
        return self._numeric.get(_number(value))


def _number(digits: str) -> str:
    """The numeric value of an ASCII digit string, as digits: no int() (which refuses more than
    4300 digits) and no leading zeros."""
    return digits.lstrip("0") or "0"


def _no_nul(text: str) -> str:
    """NUL characters (found in old collections) as spaces: xenc's readers refuse NUL."""
    return text.replace("\x00", " ").strip() if "\x00" in text else text


def _write_corpus(docs: Iterable[dict[str, Any]], path: Path, summary: ConvertSummary) -> set[str]:
    """Write the corpus, skipping repeated ids and empty documents; return the ids written."""
    seen: set[str] = set()
    with open(path, "wb") as fh:
        for doc in docs:
            doc_id = doc["id"]
            for field in ("title", "text"):
                if field in doc:
                    doc[field] = _no_nul(doc[field])
            if "title" in doc and not doc["title"]:
                del doc["title"]
            if doc_id in seen:
                summary.duplicate_docs += 1
                logger.warning("document id %r repeated; keeping the first record", doc_id)
                continue
            if not doc.get("text"):
                summary.empty_docs += 1
                logger.warning("document %r has no text; skipped", doc_id)
                continue
            seen.add(doc_id)
            fh.write(dumps(doc))
    summary.docs = len(seen)
    return seen


def _collect_queries(queries: Iterable[dict[str, Any]], summary: ConvertSummary) -> dict[str, str]:
    """Query id → text in source order; repeated ids keep the first, empty texts are skipped."""
    out: dict[str, str] = {}
    for query in queries:
        summary.source_queries += 1
        qid, text = query["id"], _no_nul(query["text"])
        if qid in out:
            logger.warning("query id %r repeated; keeping the first", qid)
        elif not text:
            summary.empty_queries += 1
            logger.warning("query %r has no text; skipped", qid)
        else:
            out[qid] = text
    return out


def _resolve(
    qrels: Qrels, doc_ids: set[str], qids: Container[str], summary: ConvertSummary
) -> Qrels:
    """Rewrite judgment ids into the corpus/query forms (see the module docstring)."""
    find_doc, find_query = _Resolver(doc_ids), _Resolver(qids)
    out: Qrels = {}
    for raw_qid, judged in qrels.items():
        qid = find_query(raw_qid)
        if qid is None:
            summary.dropped_qrels += len(judged)
            continue
        target = out.setdefault(qid, {})
        for raw_doc, grade in judged.items():
            doc_id = find_doc(raw_doc)
            if doc_id is None:
                summary.missing_docs += 1
                doc_id = raw_doc
            target[doc_id] = max(grade, target.get(doc_id, grade))
    return out


def _write_all(collection: Collection, tmp: Path, summary: ConvertSummary) -> None:
    qrels = collection.qrels()
    doc_ids = _write_corpus(collection.docs(), tmp / "corpus.jsonl", summary)
    if not doc_ids:
        raise InputError(str(collection.files[0]), None, "no documents")
    queries = _collect_queries(collection.queries(), summary)
    resolved = _resolve(qrels, doc_ids, queries, summary)
    if not resolved:
        raise InputError(str(collection.files[-1]), None, "no judgment refers to a known query id")
    kept = [q for q in queries if q in resolved] if collection.judged_queries_only else queries
    with open(tmp / "queries.jsonl", "wb") as fh:
        for qid in kept:
            fh.write(dumps({"id": qid, "text": queries[qid]}))
    write_qrels_tsv(resolved, tmp / "qrels.tsv")
    summary.queries = len(kept)
    summary.judged_queries = len(resolved)
    summary.qrels = sum(len(judged) for judged in resolved.values())


def _temp_anchor(out: Path) -> Path:
    """The nearest existing ancestor of ``out``: the temporary folder goes there."""
    anchor = out.absolute().parent
    while not anchor.is_dir():
        if anchor.exists():
            raise InputError(str(anchor), None, "is a file, expected a folder")
        anchor = anchor.parent
    return anchor


def convert(
    src: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, fmt: str = "auto",
    split: str = "test",
) -> ConvertSummary:
    """Convert the dataset folder ``src`` into xenc's formats under ``out_dir``.

    Args:
        src: A dataset folder (BEIR, TREC, SMART, or one of the named classic collections).
        out_dir: Where ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv`` go (created if
            needed; other files in it are kept, those three are replaced).
        fmt: One of :data:`DATASET_FORMATS`; ``auto`` detects it from the files
            (:func:`~xenc.datasets.adapters.detect_format`).
        split: The BEIR qrels split (``qrels/<split>.tsv``); other formats accept only
            ``test``.

    Returns:
        The counts written (see :class:`ConvertSummary`).

    Raises:
        UsageError: an unknown format, a failed detection, a bad split, or ``out_dir`` equal
            to ``src``.
        InputError: a missing folder or file, or an unparseable record (``file:line``); no
            output file is changed then.
    """
    collection = open_collection(src, fmt, split)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), None, "exists and is not a folder")
    if out.exists() and out.resolve() == Path(src).resolve():
        raise UsageError(f"{out}: the output folder must differ from the source folder")
    summary = ConvertSummary(
        name=collection.name,
        docs=0,
        queries=0,
        judged_queries=0,
        qrels=0,
        out_dir=out,
        fmt=collection.fmt,
        split=split if collection.fmt == "beir" else None,
    )
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{out.name or 'out'}.", suffix=".tmp", dir=_temp_anchor(out))
    )
    try:
        _write_all(collection, tmp, summary)
        out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary
