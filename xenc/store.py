"""The index directory: its files, ``manifest.json``, the SQLite document store, atomic writes.

Layout (format version 1)::

    DIR/manifest.json     format, versions, counts, every parameter, models, file sizes + sha256
    DIR/docs.sqlite       documents (id, title, text, metadata, content hash) and passages
    DIR/chunk_doc.npy     passage row → document sequence number (int32)
    DIR/bm25_*.npy/.json  BM25 postings (see xenc.bm25)
    DIR/embeddings.npy    passage embeddings, float32, unit length
    DIR/hnsw.bin          hnswlib graph over the embeddings

An index is built in a hidden temporary directory beside ``DIR`` and renamed into place only
when complete, so a crash or a bad input line never leaves half an index and an existing index
is replaced only by a complete new one. Nothing here is ever unpickled.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from xenc.errors import IndexFormatError, IndexNotFoundError, UsageError
from xenc.records import Chunk, Document

FORMAT = "xenc-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCSTORE = "docs.sqlite"
CHUNK_DOC = "chunk_doc.npy"

SCHEMA = """
CREATE TABLE docs (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    text TEXT NOT NULL, metadata TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, doc_seq INTEGER NOT NULL, chunk_no INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE INDEX chunks_by_doc ON chunks(doc_seq, chunk_no);
"""


def document_hash(doc: Document) -> str:
    """A content hash of everything stored for a document (used for the corpus hash)."""
    payload = orjson.dumps(
        [doc.id, doc.title, doc.text, doc.metadata], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(payload).hexdigest()


def file_digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


class DocStoreWriter:
    """Appends documents and their passages to a new ``docs.sqlite``."""

    def __init__(self, directory: Path) -> None:
        self._db = sqlite3.connect(directory / DOCSTORE)
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        self.docs = 0
        self.rows = 0
        self._corpus_hash = hashlib.sha256()

    def add(self, doc: Document, spans: Sequence[tuple[int, int]]) -> list[Chunk]:
        digest = document_hash(doc)
        self._corpus_hash.update(digest.encode())
        meta = orjson.dumps(doc.metadata, option=orjson.OPT_SORT_KEYS).decode()
        self._db.execute(
            "INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)",
            (self.docs, doc.id, doc.title, doc.text, meta, digest),
        )
        chunks = [
            Chunk(self.rows + i, doc.id, i, a, b, doc.text[a:b], doc.title)
            for i, (a, b) in enumerate(spans)
        ]
        self._db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?)",
            [(c.row, self.docs, c.chunk_no, c.start, c.end) for c in chunks],
        )
        self.docs += 1
        self.rows += len(chunks)
        return chunks

    def corpus_hash(self) -> str:
        return self._corpus_hash.hexdigest()

    def close(self) -> None:
        self._db.commit()
        self._db.close()


@contextmanager
def staging_directory(target: Path) -> Iterator[Path]:
    """A temporary directory beside ``target``, removed unless :func:`publish` moved it."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--index-dir {target} exists and is not a directory")
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _check_replaceable(target: Path) -> None:
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise UsageError(
            f"--index-dir {target} exists, is not empty and is not an xenc index; "
            "refusing to replace it"
        )


def publish(staged: Path, target: Path, manifest: dict[str, Any]) -> None:
    """Record file digests in the manifest, write it last, then rename into place."""
    _check_replaceable(target)
    manifest["files"] = {
        p.name: file_digest(p) for p in sorted(staged.iterdir()) if p.name != MANIFEST
    }
    (staged / MANIFEST).write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    for p in staged.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(directory: Path) -> dict[str, Any]:
    """Read and check ``manifest.json``: exists, parses, right format and version."""
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise IndexNotFoundError(f"no index at {directory}: run `xenc index` first")
    if not path.is_file():
        raise IndexNotFoundError(f"{directory} holds no {MANIFEST}: not an xenc index")
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise IndexFormatError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{path}: not an xenc index manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{directory}: index format version {version}, this xenc reads version "
            f"{FORMAT_VERSION}; re-run `xenc index`"
        )
    for name, info in manifest.get("files", {}).items():
        file = Path(directory) / name
        if not file.is_file():
            raise IndexFormatError(
                f"{file}: missing; the index is incomplete, re-run `xenc index`"
            )
        if file.stat().st_size != info.get("bytes"):
            raise IndexFormatError(
                f"{file}: size differs from the manifest; the index is corrupted"
            )
    return manifest


class DocStore:
    """Read access to ``docs.sqlite``: ids, titles, passages."""

    def __init__(self, directory: Path) -> None:
        uri = f"file:{Path(directory, DOCSTORE).resolve()}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            ids = self._db.execute("SELECT id FROM docs ORDER BY seq")
            self.doc_ids: list[str] = [r[0] for r in ids]
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"{directory / DOCSTORE}: unreadable ({exc})") from None
        self.seq_of = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}

    def chunks(self, rows: Iterable[int]) -> dict[int, Chunk]:
        rows = sorted(set(int(r) for r in rows))
        out: dict[int, Chunk] = {}
        for i in range(0, len(rows), 500):
            part = rows[i : i + 500]
            marks = ",".join("?" * len(part))
            query = (
                "SELECT c.row, d.id, c.chunk_no, c.start, c.end, d.text, d.title "
                f"FROM chunks c JOIN docs d ON d.seq = c.doc_seq WHERE c.row IN ({marks})"
            )
            for row, doc_id, no, a, b, text, title in self._db.execute(query, part):
                out[row] = Chunk(row, doc_id, no, a, b, text[a:b], title)
        return out

    def first_rows(self, doc_ids: Iterable[str]) -> dict[str, int]:
        """The passage row of chunk 0 of each document."""
        seqs = [self.seq_of[d] for d in doc_ids]
        out: dict[str, int] = {}
        for i in range(0, len(seqs), 500):
            part = seqs[i : i + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT doc_seq, row FROM chunks WHERE chunk_no = 0 AND doc_seq IN ({marks})"
            for seq, row in self._db.execute(query, part):
                out[self.doc_ids[seq]] = row
        return out

    def documents(self, doc_ids: Iterable[str]) -> dict[str, Document]:
        ids = list(dict.fromkeys(doc_ids))
        out: dict[str, Document] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT id, title, text, metadata FROM docs WHERE id IN ({marks})"
            for doc_id, title, text, meta in self._db.execute(query, part):
                out[doc_id] = Document(doc_id, text, title, orjson.loads(meta))
        return out

    def close(self) -> None:
        self._db.close()


def save_chunk_doc(directory: Path, chunk_doc: np.ndarray) -> str:
    np.save(directory / CHUNK_DOC, chunk_doc.astype(np.int32), allow_pickle=False)
    return CHUNK_DOC


def load_array(directory: Path, name: str, *, mmap: bool = True) -> np.ndarray:
    path = Path(directory) / name
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}: unreadable ({exc})") from None
