"""A full consistency check of an index directory: ``verify(index_dir) -> list[str]``.

Opening an index for search runs only cheap checks (sizes, shapes, counts; see
:func:`xenc.index.reader.check_open`). ``verify`` reads everything of the live generation:

* every file against the sha256 and size in the manifest, and no unlisted files;
* the files the manifest's ``retrievers`` need, and none of the dense ones without ``dense``;
* the document store: the document count, unique ids, each document's content hash and the
  corpus hash, passages numbered 0..N-1 in document order with spans inside their text;
* ``chunk_doc.npy`` against the passages table;
* the embeddings (dense only): shape ``(passages, dim)``, float32, finite, unit length;
* BM25: the arrays agree with each other and have one length per passage;
* HNSW (dense only): exactly the labels ``0..N-1``, each holding its passage's embedding.

Each problem is one line naming the file; an empty list means the index is sound.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xenc.config import HNSWParams
from xenc.errors import IndexNotFoundError, XencError
from xenc.index import digests, hnsw, store
from xenc.index.bm25 import BM25_FILES, BM25Index, BM25Params
from xenc.index.contain import real_directory, regular_file

NORM_TOLERANCE = 1e-3
ITEM_TOLERANCE = 1e-4
BLOCK = 4096
DENSE_FILES = (hnsw.EMBEDDINGS_FILE, hnsw.HNSW_FILE)


def _generation(directory: Path, name: str | None) -> Path:
    """The live generation of ``directory``, or the one called ``name``."""
    if name is None:
        generation = store.live_generation(directory) if directory.is_dir() else None
        if generation is None:
            store.open_generation(directory)  # raises the usual "no index" error
        return generation  # type: ignore[return-value]
    if not store.GEN_RE.fullmatch(name) or not real_directory(directory / name):
        raise IndexNotFoundError(f"{directory} holds no generation {name!r}")
    return directory / name


def verify(index_dir: str | os.PathLike[str], *, generation: str | None = None) -> list[str]:
    """Check the live generation of ``index_dir`` (or ``generation``, a ``gen-NNNNNN`` name)
    thoroughly; return the problems found."""
    directory = Path(index_dir)
    try:
        found = _generation(directory, generation)
        pinned = store.pin(found / store.MANIFEST)
        if pinned is None:
            return [f"{found}: missing; the index is corrupted"]
    except XencError as exc:
        return [str(exc)]
    return _verify_pinned(found, pinned)


def _verify_pinned(generation: Path, pinned: Any) -> list[str]:
    with pinned:
        try:
            manifest = store.parse_manifest(pinned.read(), generation / store.MANIFEST)
        except XencError as exc:
            return [str(exc)]
        problems = _check_files(generation, manifest) + _check_kinds(generation, manifest)
        if problems:
            return problems  # the content checks below would only repeat them
        dense = "dense" in store.retrievers_of(manifest)
        for check in CHECKS if dense else BM25_CHECKS:
            try:
                problems += check(generation, manifest)
            except (XencError, sqlite3.DatabaseError, ValueError, RuntimeError, OSError) as exc:
                problems.append(f"{generation}: {check.__name__[7:]} check failed: {exc}")
    return problems


def summary(index_dir: str | os.PathLike[str], *, generation: str | None = None) -> str:
    """``gen-NNNNNN, D documents, P passages`` for the live generation (or ``generation``)."""
    if generation is None:
        found, manifest, pinned = store.open_generation(index_dir)
        pinned.close()
    else:
        found = Path(index_dir) / generation
        manifest = store.read_manifest(found)
    generation = found.name
    counts = manifest["counts"]
    only = "" if "dense" in store.retrievers_of(manifest) else ", BM25 only"
    return (f"{generation}, {counts['documents']} documents, {counts['passages']} "
            f"passages{only}")


def _check_files(generation: Path, manifest: dict[str, Any]) -> list[str]:
    problems = []
    files = manifest.get("files", {})
    for name, info in sorted(files.items()):
        path = generation / name
        try:
            if regular_file(path) is None:
                problems.append(f"{path}: missing")
                continue
        except XencError as exc:
            problems.append(str(exc))
            continue
        digest = digests.file_digest(path)
        if digest["bytes"] != info.get("bytes"):
            size = info.get("bytes")
            problems.append(f"{path}: {digest['bytes']} bytes, the manifest says {size}")
        elif digest["sha256"] != info.get("sha256"):
            problems.append(f"{path}: sha256 differs from the manifest")
    for path in sorted(generation.iterdir()):
        if path.name != store.MANIFEST and path.name not in files:
            problems.append(f"{path}: not listed in the manifest")
    return problems


def _check_kinds(generation: Path, manifest: dict[str, Any]) -> list[str]:
    """The files the index's retrievers need are listed; a BM25-only index has no dense ones."""
    kinds = store.retrievers_of(manifest)
    need = [store.DOCSTORE, store.CHUNK_DOC, *BM25_FILES]
    need += DENSE_FILES if "dense" in kinds else (store.CHUNK_TOKENIZER,)
    files = manifest.get("files", {})
    built = f"retrievers {','.join(kinds)}"
    problems = [f"{generation / name}: missing; an index with {built} needs it"
                for name in need if name not in files]
    if "dense" not in kinds:
        problems += [f"{generation / name}: present, but the index has {built}"
                     for name in DENSE_FILES if name in files]
    return problems


def _check_docstore(generation: Path, manifest: dict[str, Any]) -> list[str]:
    path = generation / store.DOCSTORE
    docs = store.DocStore(generation)
    try:
        problems = []
        counts = manifest["counts"]
        if len(docs.doc_ids) != counts["documents"]:
            problems.append(f"{path}: {len(docs.doc_ids)} documents, the manifest says "
                            f"{counts['documents']}")
        if len(set(docs.doc_ids)) != len(docs.doc_ids):
            problems.append(f"{path}: document ids are not unique")
        hashes = docs.hashes()
        corpus = hashlib.sha256()
        for seq, doc in docs.iter_documents():
            digest = store.document_hash(doc)
            corpus.update(digest.encode())
            if hashes.get(doc.id, (seq, digest)) != (seq, digest):
                problems.append(f"{path}: document {doc.id!r} does not match its content hash")
        if corpus.hexdigest() != manifest["corpus"].get("sha256"):
            problems.append(f"{path}: corpus hash differs from the manifest")
        problems += _check_passages(path, docs, manifest)
        return problems
    finally:
        docs.close()


def _check_passages(path: Path, docs: store.DocStore, manifest: dict[str, Any]) -> list[str]:
    db = docs._db  # noqa: SLF001 - read-only queries over the same connection
    rows = db.execute("SELECT row, doc_seq, chunk_no FROM chunks ORDER BY row").fetchall()
    problems = []
    if len(rows) != manifest["counts"]["passages"]:
        problems.append(f"{path}: {len(rows)} passages, the manifest says "
                        f"{manifest['counts']['passages']}")
    expected_seq, expected_no = 0, 0
    for i, (row, seq, no) in enumerate(rows):
        if row != i or not (
            (seq == expected_seq and no == expected_no) or (seq == expected_seq + 1 and no == 0)
        ):
            problems.append(f"{path}: passage row {row} is out of order")
            break
        expected_seq, expected_no = seq, no + 1
    if rows and expected_seq != len(docs.doc_ids) - 1:
        problems.append(f"{path}: not every document has passages")
    bad = db.execute(
        "SELECT COUNT(*) FROM chunks c JOIN docs d ON d.seq = c.doc_seq "
        "WHERE c.start < 0 OR c.end > length(d.text) OR c.start > c.end"
    ).fetchone()[0]
    if bad:
        problems.append(f"{path}: {bad} passage spans lie outside their document")
    chunk_doc = store.load_array(path.parent, store.CHUNK_DOC, mmap=False)
    if chunk_doc.shape != (len(rows),) or np.any(chunk_doc != [r[1] for r in rows]):
        problems.append(f"{path.parent / store.CHUNK_DOC}: differs from the passages table")
    return problems


def _check_embeddings(generation: Path, manifest: dict[str, Any]) -> list[str]:
    path = generation / hnsw.EMBEDDINGS_FILE
    vectors = store.load_array(generation, hnsw.EMBEDDINGS_FILE)
    shape = (manifest["counts"]["passages"], manifest["encoder"]["dim"])
    if vectors.shape != shape or vectors.dtype != np.float32:
        return [f"{path}: {vectors.dtype} {vectors.shape}, expected float32 {shape}"]
    problems = []
    for start in range(0, shape[0], BLOCK):
        block = np.asarray(vectors[start : start + BLOCK], dtype=np.float64)
        if not np.all(np.isfinite(block)):
            problems.append(f"{path}: non-finite values near row {start}")
            break
        norms = np.linalg.norm(block, axis=1)
        off = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOLERANCE)
        if len(off):
            row = start + int(off[0])
            problems.append(f"{path}: row {row} is not unit length")
            break
    return problems


def _check_bm25(generation: Path, manifest: dict[str, Any]) -> list[str]:
    index = BM25Index.load(generation, BM25Params.from_dict(manifest["bm25"]))
    rows = manifest["counts"]["passages"]
    problems = []
    if index.num_rows != rows:
        where = generation / "bm25_doc_len.npy"
        problems.append(f"{where}: {index.num_rows} rows, expected {rows}")
    if index.nnz and (int(np.max(index.rows)) >= rows or int(np.min(index.rows)) < 0):
        problems.append(f"{generation / 'bm25_rows.npy'}: row numbers out of range")
    if index.vocab_size != manifest["bm25"].get("vocab_size", index.vocab_size):
        problems.append(f"{generation / 'bm25_vocab.json'}: vocabulary size differs")
    return problems


def _check_hnsw(generation: Path, manifest: dict[str, Any]) -> list[str]:
    rows, dim = manifest["counts"]["passages"], int(manifest["encoder"]["dim"])
    graph = hnsw.load(generation, dim, rows, HNSWParams(**manifest["hnsw"]))
    path = generation / hnsw.HNSW_FILE
    labels = np.sort(np.asarray(graph.get_ids_list(), dtype=np.int64))
    if not np.array_equal(labels, np.arange(rows)):
        return [f"{path}: labels are not the passage rows 0..{rows - 1}"]
    vectors = store.load_array(generation, hnsw.EMBEDDINGS_FILE)
    for start in range(0, rows, BLOCK):
        ids = list(range(start, min(start + BLOCK, rows)))
        items = np.asarray(graph.get_items(ids), dtype=np.float32)
        if not np.allclose(items, vectors[start : start + len(ids)], atol=ITEM_TOLERANCE):
            return [f"{path}: vectors differ from {hnsw.EMBEDDINGS_FILE} near row {start}"]
    return []


CHECKS: tuple[Callable[[Path, dict[str, Any]], list[str]], ...] = (
    _check_docstore,
    _check_embeddings,
    _check_bm25,
    _check_hnsw,
)
BM25_CHECKS = (_check_docstore, _check_bm25)  # an index without the dense retriever
