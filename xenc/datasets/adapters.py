"""Per-collection readers and format detection.

Every reader takes a folder and returns a :class:`~xenc.datasets.collection.Collection`;
the files it needs are checked when it is opened, so a missing one fails before any output.

Auto-detection (:func:`detect_format`) looks at the folder's files, in this order:

1. ``beir``: ``queries.jsonl`` plus ``corpus.jsonl`` or a ``corpus/`` folder of ``.jsonl``;
2. ``lisa``: ``LISARJ.NUM``;
3. ``cisi`` / ``medline`` / ``adi`` / ``cacm``: ``CISI.ALL`` / ``MED.ALL`` / ``ADI.ALL`` /
   ``cacm.all``;
4. ``smart``: a ``*.ALL`` documents file and a ``*.QRY`` (or ``*.QUE``, ``query.text``) file;
5. ``trec``: a ``qrels*`` file and ``*.trec`` files (at the top or in ``corpus/``).

File names are matched ignoring case.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from xenc.datasets._text import find_file, match_files, only_one, require_file
from xenc.datasets.beir import beir_corpus_file, read_beir
from xenc.datasets.collection import Collection
from xenc.datasets.judgments import read_judgments, read_lisa_judgments
from xenc.datasets.lisa import DOC_FILE, read_lisa_docs, read_lisa_queries
from xenc.datasets.smart import read_smart_docs, read_smart_queries
from xenc.datasets.trec import read_trec_docs, read_trec_topics
from xenc.errors import InputError, UsageError

#: Every ``fmt`` that :func:`~xenc.datasets.convert` accepts (for the CLI's help text).
DATASET_FORMATS = (
    "auto",
    "beir",
    "trec",
    "smart",
    "cisi",
    "medline",
    "cacm",
    "adi",
    "lisa",
    "vaswani",
)

SMART_DOCS = re.compile(r"\.all(\.[0-9]+)?$")
SMART_QUERIES = re.compile(r"(\.(qry|que)|^quer(y|ies)\.te?xt)$")
SMART_QRELS = re.compile(r"(\.rel|qrels?(\.te?xt)?)$")
TREC_DOCS = re.compile(r"\.(trec|trectext|sgml?)$")
TREC_TOPICS = re.compile(r"(topic|quer)")
TREC_QRELS = re.compile(r"^qrels")

#: Named SMART collections: format → (documents, queries, judgments) file names.
SMART_FILES = {
    "cisi": ("CISI.ALL", "CISI.QRY", "CISI.REL"),
    "medline": ("MED.ALL", "MED.QRY", "MED.REL"),
    "adi": ("ADI.ALL", "ADI.QRY", "ADI.REL"),
    "cacm": ("cacm.all", "query.text", "qrels.text"),
}


def _name(folder: Path) -> str:
    return folder.resolve().name


def _smart(folder: Path, fmt: str, docs: Path, queries: Path, qrels: Path) -> Collection:
    return Collection(
        name=_name(folder),
        fmt=fmt,
        docs=partial(read_smart_docs, docs),
        queries=partial(read_smart_queries, queries),
        qrels=partial(read_judgments, qrels),
        files=(docs, queries, qrels),
    )


def _named_smart(fmt: str, folder: str | Path) -> Collection:
    root = Path(folder)
    docs, queries, qrels = (require_file(root, name) for name in SMART_FILES[fmt])
    return _smart(root, fmt, docs, queries, qrels)


def read_cisi(folder: str | Path) -> Collection:
    """CISI: ``CISI.ALL`` (.I/.T/.A/.W/.X), ``CISI.QRY`` (112 queries), ``CISI.REL``."""
    return _named_smart("cisi", folder)


def read_medline(folder: str | Path) -> Collection:
    """MEDLINE: ``MED.ALL`` (.I/.W), ``MED.QRY``, ``MED.REL`` (TREC form; not MED.REL.OLD)."""
    return _named_smart("medline", folder)


def read_adi(folder: str | Path) -> Collection:
    """ADI: ``ADI.ALL`` (.I/.T/.A/.W), ``ADI.QRY``, ``ADI.REL``."""
    return _named_smart("adi", folder)


def read_cacm(folder: str | Path) -> Collection:
    """CACM: ``cacm.all``, ``query.text``, ``qrels.text`` (query ids zero-padded there)."""
    return _named_smart("cacm", folder)


def read_smart(folder: str | Path) -> Collection:
    """Any SMART collection: one ``*.ALL``, one ``*.QRY``/``*.QUE``/``query.text``, one
    ``*.REL``/``qrels.text`` file in the folder.

    Raises:
        InputError: one of the three is missing. UsageError: several candidates for one.
    """
    root = Path(folder)
    docs = only_one(root, SMART_DOCS, "SMART documents (*.ALL)")
    queries = only_one(root, SMART_QUERIES, "SMART queries (*.QRY)")
    qrels = only_one(root, SMART_QRELS, "SMART judgments (*.REL)")
    return _smart(root, "smart", docs, queries, qrels)


def read_lisa(folder: str | Path) -> Collection:
    """LISA: documents ``LISA0.001`` … ``LISA5.850``, ``LISA.QUE``, judgments ``LISARJ.NUM``."""
    root = Path(folder)
    docs = match_files(root, DOC_FILE)
    if not docs:
        raise InputError(str(root / "LISA0.001"), None, "no such file (nor any LISA<n>.<nnn>)")
    queries = require_file(root, "LISA.QUE")
    qrels = require_file(root, "LISARJ.NUM")
    return Collection(
        name=_name(root),
        fmt="lisa",
        docs=partial(read_lisa_docs, docs),
        queries=partial(read_lisa_queries, queries),
        qrels=partial(read_lisa_judgments, qrels),
        files=(*docs, queries, qrels),
    )


def read_trec_files(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Stream the documents of several TREC files, in the order given."""
    for path in paths:
        yield from read_trec_docs(path)


def _trec(folder: Path, fmt: str, docs: list[Path], topics: Path, qrels: Path) -> Collection:
    return Collection(
        name=_name(folder),
        fmt=fmt,
        docs=partial(read_trec_files, docs),
        queries=partial(read_trec_topics, topics),
        qrels=partial(read_judgments, qrels),
        files=(*docs, topics, qrels),
    )


def _trec_doc_files(root: Path) -> list[Path]:
    corpus = root / "corpus"
    if corpus.is_dir():
        return sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [p for p in match_files(root, TREC_DOCS) if not TREC_TOPICS.search(p.name.lower())]


def read_trec(folder: str | Path) -> Collection:
    """A TREC-format folder: documents (every file in ``corpus/``, else the top-level
    ``*.trec``/``*.trectext``/``*.sgml`` files), one topics file (name containing ``topic`` or
    ``quer``) and one ``qrels*`` file (TREC ``qid iter docid grade``).

    Raises:
        InputError: a missing part. UsageError: several topics or qrels files.
    """
    root = Path(folder)
    docs = _trec_doc_files(root)
    if not docs:
        raise InputError(str(root / "corpus"), None, "no TREC documents (nor *.trec files)")
    topics = only_one(root, TREC_TOPICS, "TREC topics")
    qrels = only_one(root, TREC_QRELS, "qrels")
    return _trec(root, "trec", docs, topics, qrels)


def read_vaswani(folder: str | Path) -> Collection:
    """Vaswani (NPL) as published by PyTerrier: ``corpus/doc-text.trec``, ``query-text.trec``,
    ``qrels``."""
    root = Path(folder)
    docs = require_file(root / "corpus", "doc-text.trec")
    topics = require_file(root, "query-text.trec")
    qrels = require_file(root, "qrels")
    return _trec(root, "vaswani", [docs], topics, qrels)


def _is_beir(folder: Path) -> bool:
    if find_file(folder, "queries.jsonl") is None:
        return False
    try:
        beir_corpus_file(folder)
    except InputError:
        return False
    except UsageError:
        return True
    return True


def detect_format(folder: str | Path) -> str:
    """Guess a folder's format from its files (rules in the module docstring).

    Raises:
        UsageError: no rule matched; the message lists the files looked for.
    """
    root = Path(folder)
    if _is_beir(root):
        return "beir"
    if find_file(root, "LISARJ.NUM") is not None:
        return "lisa"
    for fmt, (docs, _, _) in SMART_FILES.items():
        if find_file(root, docs) is not None:
            return fmt
    if match_files(root, SMART_DOCS) and match_files(root, SMART_QUERIES):
        return "smart"
    trec_docs = match_files(root, TREC_DOCS) or match_files(root / "corpus", TREC_DOCS)
    if match_files(root, TREC_QRELS) and trec_docs:
        return "trec"
    raise UsageError(
        f"cannot detect the dataset format of {root}: looked for queries.jsonl with "
        "corpus.jsonl or corpus/*.jsonl (beir), LISARJ.NUM (lisa), CISI.ALL, MED.ALL, ADI.ALL, "
        "cacm.all, *.ALL with *.QRY (smart), qrels with *.trec files (trec); "
        "pass the format explicitly"
    )


READERS = {
    "trec": read_trec,
    "smart": read_smart,
    "cisi": read_cisi,
    "medline": read_medline,
    "cacm": read_cacm,
    "adi": read_adi,
    "lisa": read_lisa,
    "vaswani": read_vaswani,
}


def open_collection(
    src: str | os.PathLike[str], fmt: str = "auto", split: str = "test"
) -> Collection:
    """Open ``src`` as ``fmt`` (any case; detected when ``auto``), checking its files exist.

    Raises:
        UsageError: an unknown ``fmt``, a failed detection, or ``split`` other than ``test``
            for a non-BEIR collection (they have one set of judgments).
        InputError: ``src`` is missing or not a folder, or a file the format needs is missing.
    """
    if fmt.lower() not in DATASET_FORMATS:
        raise UsageError(
            f"unknown dataset format {fmt!r}; choose one of: {', '.join(DATASET_FORMATS)}"
        )
    root = Path(src)
    if not root.exists():
        raise InputError(str(root), None, "no such folder")
    if not root.is_dir():
        raise InputError(str(root), None, "is a file, expected a dataset folder")
    chosen = detect_format(root) if fmt.lower() == "auto" else fmt.lower()
    if chosen == "beir":
        return read_beir(root, split)
    if split != "test":
        raise UsageError(
            f"split {split!r} applies to BEIR folders only; {chosen} has a single set of judgments"
        )
    return READERS[chosen](root)
