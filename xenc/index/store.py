"""The index directory: generations, ``manifest.json``, the SQLite document store.

Layout (format version 2)::

    DIR/CURRENT                 the name of the live generation (replaced by atomic rename)
    DIR/manifest.json           symlink to the live generation's manifest (for people, tools)
    DIR/.lock                   the writer lock (see xenc.index.locking)
    DIR/gen-NNNNNN/             one complete, immutable index:
        manifest.json           format, versions, counts, parameters, models, history,
                                every other file's size and sha256
        docs.sqlite             documents (id, title, text, metadata, content hash), passages
        chunk_doc.npy           passage row → document sequence number (int32)
        bm25_*.npy/.json        BM25 postings (see xenc.index.bm25)
        embeddings.npy          passage embeddings, float32, unit length  } retriever
        hnsw.bin                hnswlib graph over the embeddings         } "dense" only
        chunk_tokenizer.json    BM25-only: the tokenizer that cut the passages

Writers (xenc.index.locking) build a generation under a temporary name, publish it by renaming it
and then ``CURRENT``, and never modify a published generation. Readers
(:func:`open_generation`) resolve ``CURRENT`` once and hold a shared lock on that generation's
manifest, so they see one complete index, old or new, never a mix. Nothing here is ever
unpickled.

Crash tests set ``XENC_TEST_KILL_AT`` to make a writer SIGKILL itself at a named stage (see
:func:`kill_point`); it has no other effect.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import signal
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from xenc.config import INDEX_RETRIEVERS
from xenc.errors import IndexFormatError, IndexNotFoundError
from xenc.index.contain import check_names, corrupted, real_directory
from xenc.index.digests import check_files
from xenc.index.manifest_view import check_params
from xenc.records import Chunk, Document

FORMAT = "xenc-index"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
CURRENT = "CURRENT"
LOCK = ".lock"
GEN_PREFIX = "gen-"
GEN_RE = re.compile(r"gen-(\d{6})")
DOCSTORE = "docs.sqlite"
CHUNK_DOC = "chunk_doc.npy"
CHUNK_TOKENIZER = "chunk_tokenizer.json"
KILL_ENV = "XENC_TEST_KILL_AT"

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


def kill_point(stage: str) -> None:
    """Test hook: SIGKILL this process at ``stage`` when ``XENC_TEST_KILL_AT`` names it.

    Stages, in order: ``chunked`` and ``embedded`` (after the first batch of documents),
    ``bm25`` (BM25 files written), ``staged`` (every file and the manifest written),
    ``renamed`` (generation directory in place, ``CURRENT`` not yet switched) and
    ``published`` (``CURRENT`` switched, old generations not yet removed).
    """
    if os.environ.get(KILL_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)


def live_generation(directory: Path) -> Path | None:
    """The generation ``CURRENT`` names, or None when there is no ``CURRENT`` file."""
    try:
        name = (Path(directory) / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{Path(directory) / CURRENT}: unreadable ({exc})") from None
    if not GEN_RE.fullmatch(name):
        raise IndexFormatError(f"{Path(directory) / CURRENT}: names no generation ({name!r})")
    generation = Path(directory) / name
    if generation.is_symlink():
        raise corrupted(generation, "is a symlink, not a generation directory")
    return generation


def generations(directory: Path) -> list[Path]:
    """The published generation directories of ``directory`` (``gen-NNNNNN``), oldest first."""
    return sorted(p for p in Path(directory).iterdir()
                  if GEN_RE.fullmatch(p.name) and real_directory(p))


def orphaned(directory: Path) -> IndexFormatError | None:
    """The error for a directory whose ``CURRENT`` is missing but which holds generations:
    a corrupted index that no writer may build over and no reader may guess at."""
    found = generations(directory)
    if not found:
        return None
    return IndexFormatError(
        f"{Path(directory) / CURRENT}: missing, but {directory} holds "
        f"{', '.join(p.name for p in found)}; the index is corrupted. Recover: run `xenc "
        f"verify --index-dir {directory} --generation {found[-1].name}` and, if it says ok, "
        f"`echo {found[-1].name} > {Path(directory) / CURRENT}` (else try the next older one)"
    )


def parse_manifest(data: bytes, path: Path) -> dict[str, Any]:
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IndexFormatError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{path}: not an xenc index manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{path.parent}: index format version {version}, this xenc reads version "
            f"{FORMAT_VERSION}; re-run `xenc index`"
        )
    retrievers = manifest.get("retrievers", list(INDEX_RETRIEVERS))
    if not isinstance(retrievers, list) or "bm25" not in retrievers or any(
            kind not in INDEX_RETRIEVERS for kind in retrievers):
        raise IndexFormatError(f"{path}: \"retrievers\" must list bm25 and optionally dense, "
                               f"not {retrievers!r}; the index is corrupted")
    check_names(manifest, path)
    check_params(manifest, path)
    return manifest


def retrievers_of(manifest: dict[str, Any]) -> tuple[str, ...]:
    """What an index holds (its manifest's ``retrievers``, checked when it was read); an
    index made before the field existed holds both BM25 and dense."""
    return tuple(manifest.get("retrievers", INDEX_RETRIEVERS))


def read_manifest(generation: Path) -> dict[str, Any]:
    """Read and check a generation's ``manifest.json``: format, version, file sizes."""
    path = Path(generation) / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IndexNotFoundError(f"{generation} holds no {MANIFEST}: not an xenc index") from None
    manifest = parse_manifest(data, path)
    check_files(Path(generation), manifest)
    return manifest


def pin(manifest: Path) -> IO[bytes] | None:
    """Open a generation's manifest with a shared lock, or None if it was removed meanwhile.

    The returned file keeps writers from garbage-collecting the generation until it is closed
    (they take an exclusive, non-blocking lock on the same file before removing one).
    """
    try:
        fh = open(manifest, "rb")  # noqa: SIM115 - the caller keeps it open
    except (FileNotFoundError, NotADirectoryError):
        return None
    fcntl.flock(fh.fileno(), fcntl.LOCK_SH)  # waits only while a writer is deleting it
    if os.fstat(fh.fileno()).st_nlink == 0:  # deleted between open and lock
        fh.close()
        return None
    return fh


def open_generation(
    directory: str | os.PathLike[str],
) -> tuple[Path, dict[str, Any], IO[bytes]]:
    """Resolve ``CURRENT`` once and pin that generation for reading.

    Returns:
        The generation directory, its checked manifest, and the open manifest file whose
        shared lock keeps writers from removing the generation; close it when done.

    Raises:
        IndexNotFoundError: No directory, or no index in it.
        IndexFormatError: Another format version, or a missing, truncated or extended file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise IndexNotFoundError(f"no index at {directory}: run `xenc index` first")
    generation = live_generation(directory)
    while True:
        if generation is None:
            lost = orphaned(directory)
            if lost is not None:
                raise lost
            if (directory / MANIFEST).is_file():  # format 1 keeps its files at the top level
                read_manifest(directory)
            raise IndexNotFoundError(f"{directory} holds no {MANIFEST}: not an xenc index")
        pinned = pin(generation / MANIFEST)
        if pinned is not None:
            break
        again = live_generation(directory)
        if again == generation:
            raise IndexFormatError(f"{generation}: missing; the index is corrupted")
        generation = again  # a writer published a newer one meanwhile
    try:
        manifest = parse_manifest(pinned.read(), generation / MANIFEST)
        check_files(generation, manifest, hashes=True)
    except BaseException:
        pinned.close()
        raise
    return generation, manifest, pinned

class DocStore:
    """Read access to ``docs.sqlite``: ids, titles, passages.

    A query reads only the rows it returns or reranks (:meth:`ids_of`, :meth:`first_rows`,
    :meth:`chunks`, :meth:`documents`); the full id list (:attr:`doc_ids`, :attr:`seq_of`),
    which means reading the whole table, loads only when a bulk job (update, verify, mining)
    asks for it.
    """

    def __init__(self, directory: Path) -> None:
        uri = f"file:{Path(directory, DOCSTORE).resolve()}?mode=ro"
        self._path = Path(directory) / DOCSTORE
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            # count(*) walks the small id index, not the table with the texts
            self.count: int = int(self._db.execute("SELECT count(*) FROM docs").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"{directory / DOCSTORE}: unreadable ({exc})") from None
        self._ids: list[str] | None = None
        self._seq_of: dict[str, int] | None = None

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        """The rows of a query; a read error (a damaged page) is a corrupted index."""
        try:
            yield from self._db.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"{self._path}: unreadable ({exc}); the index is "
                                   "corrupted") from None

    @property
    def doc_ids(self) -> list[str]:
        """Every document id in ``seq`` order (reads the whole id column once)."""
        if self._ids is None:
            self._ids = [r[0] for r in self._rows("SELECT id FROM docs ORDER BY seq")]
        return self._ids

    @property
    def seq_of(self) -> dict[str, int]:
        """Every document id → ``seq``."""
        if self._seq_of is None:
            self._seq_of = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}
        return self._seq_of

    def ids_of(self, seqs: Iterable[int]) -> dict[int, str]:
        """The ids of the documents at ``seqs`` (only those rows are read)."""
        if self._ids is not None:
            return {int(s): self._ids[int(s)] for s in seqs}
        wanted = sorted(set(int(s) for s in seqs))
        out: dict[int, str] = {}
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            marks = ",".join("?" * len(part))
            out.update(self._rows(f"SELECT seq, id FROM docs WHERE seq IN ({marks})", part))
        return out

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
            for row, doc_id, no, a, b, text, title in self._rows(query, part):
                out[row] = Chunk(row, doc_id, no, a, b, text[a:b], title)
        return out

    def first_rows(self, doc_ids: Iterable[str]) -> dict[str, int]:
        """The passage row of chunk 0 of each document."""
        ids = list(dict.fromkeys(doc_ids))
        out: dict[str, int] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            query = ("SELECT d.id, c.row FROM docs d JOIN chunks c ON c.doc_seq = d.seq "
                     f"AND c.chunk_no = 0 WHERE d.id IN ({marks})")
            out.update(self._rows(query, part))
        missing = [d for d in ids if d not in out]
        if missing:
            raise KeyError(missing[0])
        return out

    def documents(self, doc_ids: Iterable[str]) -> dict[str, Document]:
        ids = list(dict.fromkeys(doc_ids))
        out: dict[str, Document] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT id, title, text, metadata FROM docs WHERE id IN ({marks})"
            for doc_id, title, text, meta in self._rows(query, part):
                out[doc_id] = Document(doc_id, text, title, orjson.loads(meta))
        return out

    def hashes(self) -> dict[str, tuple[int, str]]:
        """Every document's ``id → (seq, content hash)``."""
        rows = self._rows("SELECT id, seq, hash FROM docs")
        return {doc_id: (seq, digest) for doc_id, seq, digest in rows}

    def spans(self) -> list[list[tuple[int, int]]]:
        """Each document's passage spans ``(start, end)``, indexed by ``seq``, in row order."""
        out: list[list[tuple[int, int]]] = [[] for _ in self.doc_ids]
        for seq, start, end in self._rows(
            "SELECT doc_seq, start, end FROM chunks ORDER BY row"
        ):
            out[seq].append((start, end))
        return out

    def iter_documents(self) -> Iterator[tuple[int, Document]]:
        """All documents as ``(seq, document)``, in ``seq`` order."""
        cursor = self._rows("SELECT seq, id, title, text, metadata FROM docs ORDER BY seq")
        for seq, doc_id, title, text, meta in cursor:
            yield seq, Document(doc_id, text, title, orjson.loads(meta))

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
