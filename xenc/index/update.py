"""Updating a generation: an incremental update, deletion by id.

Every write produces a complete new generation laid out exactly as a fresh build over the
same final documents would be (see :mod:`xenc.index.build`). What an update saves is
the expensive part, embedding: a document whose stored content hash
(:func:`xenc.index.store.document_hash`) is unchanged keeps its passage spans and embedding
rows, copied from the live generation; so does a changed document whose title and text are
the same (only metadata changed). Only new and changed texts are chunked and embedded.

Why rebuild BM25 and HNSW instead of patching them: BM25's idf and average length depend on
every row, so every score changes with any addition anyway; rebuilding from tokens makes the
scores those of a fresh build, bit for bit. For HNSW, ``mark_deleted`` leaves tombstones that
still cost search time and can starve a top-k query, ``resize_index`` plus new labels breaks
``label == passage row``, and either makes the graph depend on the update history. A rebuild
keeps ``label == row`` by construction, gives the same graph as a fresh build (same vectors,
same seed, one thread) and costs far less than embedding the same passages would.

Final order: the corpus order, then (without ``delete_missing``) the documents of the index
that the corpus does not mention, in their previous order. Chunking, tokenizer, BM25, HNSW and
encoder parameters always come from the live manifest, and so do the retrievers: an index
without the dense retriever stays so, never loads the encoder, and cuts new documents with the
tokenizer it keeps (``chunk_tokenizer.json``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xenc import __version__
from xenc.config import parse_retrievers
from xenc.errors import (
    IndexFormatError,
    IndexNotFoundError,
    InputError,
    UsageError,
    param,
    setting,
)
from xenc.index import hnsw, store
from xenc.index.build import (
    EmbedSink,
    Entry,
    LazyEncoder,
    Params,
    assemble,
    carry_query_encoder,
    engine_encoder,
    link_or_copy,
    now,
)
from xenc.index.locking import IndexWriter, index_writer
from xenc.io.corpus import CorpusFields, CorpusSkips, read_corpus
from xenc.io.files import file_sha256, source_name
from xenc.progress import Callback
from xenc.records import Document

if TYPE_CHECKING:
    from xenc.models.encoder import Encoder
    from xenc.models.fast_tokenizer import FastTokenizer


def check_digests(generation: Path, manifest: dict[str, Any]) -> None:
    """Every file of ``generation`` against the sha256 its manifest records: nothing corrupted
    is carried into, or re-hashed by, a new generation.

    Raises:
        IndexFormatError: A file differs, naming it.
    """
    for name, info in sorted(manifest.get("files", {}).items()):
        if file_sha256(generation / name) != info["sha256"]:
            raise IndexFormatError(
                f"{generation / name}: sha256 differs from the manifest; the index is "
                "corrupted, refusing to carry it into a new generation (rebuild with "
                f"`xenc index` without {param('update')})"
            )


class LiveIndex:
    """What an update reuses from the live generation: hashes, spans and embedding rows,
    every file checked against its recorded sha256 first (:func:`check_digests`)."""

    def __init__(self, generation: Path) -> None:
        self.generation = generation
        self.manifest = store.read_manifest(generation)
        check_digests(generation, self.manifest)
        self.docstore = store.DocStore(generation)
        self.hashes = self.docstore.hashes()
        self.spans = self.docstore.spans()
        self.first_row = np.concatenate([[0], np.cumsum([len(s) for s in self.spans])])
        self.retrievers = store.retrievers_of(self.manifest)
        self.embeddings = store.load_array(generation, hnsw.EMBEDDINGS_FILE) if (
            "dense" in self.retrievers) else None
        self.stats = {"added": 0, "changed": 0, "deleted": 0, "unchanged": 0}

    def reuse(self, seq: int, doc: Document) -> Entry:
        start, end = int(self.first_row[seq]), int(self.first_row[seq + 1])
        vectors = None if self.embeddings is None else np.array(self.embeddings[start:end])
        return Entry(doc, list(self.spans[seq]), vectors)

    def entry(self, doc: Document) -> Entry:
        """The entry for a corpus document: reused unless it is new or its text changed."""
        hit = self.hashes.get(doc.id)
        if hit is None:
            self.stats["added"] += 1
            return Entry(doc)
        seq, digest = hit
        if digest == store.document_hash(doc):
            self.stats["unchanged"] += 1
            return self.reuse(seq, doc)
        self.stats["changed"] += 1
        old = self.docstore.documents([doc.id])[doc.id]
        if (old.title, old.text) == (doc.title, doc.text):  # metadata only
            return self.reuse(seq, doc)
        return Entry(doc)

    def remaining(self, skip: set[str], *, drop: bool) -> Iterator[Entry]:
        """Old documents not in ``skip``: reused, or counted as deleted with ``drop``."""
        for seq, doc in self.docstore.iter_documents():
            if doc.id in skip:
                continue
            if drop:
                self.stats["deleted"] += 1
                continue
            self.stats["unchanged"] += 1
            yield self.reuse(seq, doc)

    def close(self) -> None:
        self.docstore.close()


def _rebuild() -> str:
    return f"rebuild the index with `xenc index` (without {param('update')})"


def _encoder_loader(
    recorded: dict[str, Any], name: str | None, device: str | None, batch_size: int
) -> Callable[[], Encoder]:
    def load() -> Encoder:
        from xenc.models.encoder import Encoder

        bundled = recorded.get("source") == "bundled"
        model_name = name or (recorded["name"] if bundled else recorded["path"])
        model = Encoder(model_name, device=device, batch_size=batch_size,
                        max_length=recorded.get("max_length"))
        info = model.info()
        if (info["sha256"], info["dim"]) != (recorded.get("sha256"), recorded.get("dim")):
            what = f"encoder {model_name}" if name else f"encoder {model_name} changed on disk"
            raise UsageError(
                f"the index was built with encoder {recorded.get('name')} "
                f"(sha256 {str(recorded.get('sha256'))[:12]}), {what} differs; {_rebuild()}"
            )
        return model

    return load


def _chunk_tokenizer(live: LiveIndex, name: str | None) -> FastTokenizer:
    """The tokenizer an index without the dense retriever keeps; ``name``, if given, must
    name the encoder whose tokenizer it is."""
    from xenc.models.encoder import chunk_tokenizer
    from xenc.models.fast_tokenizer import FastTokenizer

    recorded = live.manifest.get("chunk_tokenizer") or {}
    if name is not None and chunk_tokenizer(name)[1]["sha256"] != recorded.get("sha256"):
        raise UsageError(
            f"the index cut its passages with the tokenizer of {recorded.get('name')}; "
            f"encoder {name} has another; {_rebuild()}"
        )
    return FastTokenizer(live.generation / recorded.get("file", store.CHUNK_TOKENIZER))


def _carry(live: LiveIndex, manifest: dict[str, Any], tmp: Path, encoder: LazyEncoder | None
           ) -> None:
    """Carry the live generation's model files: the query encoder, or the chunk tokenizer."""
    if "dense" not in live.retrievers:
        link_or_copy(live.generation / store.CHUNK_TOKENIZER, tmp / store.CHUNK_TOKENIZER)
        return
    query = carry_query_encoder(live.generation, manifest.get("query_encoder"), tmp, encoder)
    if query is not None:
        manifest["query_encoder"] = query


def _write_update(
    target: IndexWriter, live: LiveIndex, entries: Iterable[Entry], encoder: LazyEncoder,
    record: dict[str, Any], progress: Callback | None, skips: CorpusSkips | None = None,
) -> dict[str, Any]:
    """Assemble and publish the next generation; the manifest keeps the live one's settings."""
    manifest = dict(live.manifest)
    params = Params.from_manifest(manifest)
    tmp = target.stage()
    try:
        writer, lexical = assemble(
            entries, tmp, encoder, params, lambda: int(manifest["encoder"]["dim"]), progress
        )
        deleting = record.get("kind") == "delete"  # never loads the encoder
        _carry(live, manifest, tmp, None if deleting else encoder)
    finally:
        live.close()
    if writer.docs == 0:
        raise InputError(record.get("source", "update"), None, "no documents")
    stats = live.stats
    if record["kind"] == "update" and not (stats["added"] or stats["changed"] or stats["deleted"]) \
            and writer.corpus_hash() == manifest["corpus"].get("sha256"):
        target.discard()  # same documents in the same order: publish nothing
        return {**manifest, "published": False}
    corpus = dict(manifest["corpus"], sha256=writer.corpus_hash())
    if "source" in record:
        corpus["source"] = record["source"]
    manifest.update(
        xenc_version=__version__,
        counts={"documents": writer.docs, "passages": writer.rows},
        corpus=corpus,
        bm25={**params.bm25.to_dict(), **lexical.to_dict()},
    )
    if skips is not None:  # an update that read a corpus: its skips replace the last ones
        manifest["skipped"] = skips.to_dict()
        record = {**record, "skipped": skips.total}
    entry = {"time": now(), **record, **live.stats, "corpus_sha256": writer.corpus_hash()}
    manifest["history"] = [*manifest.get("history", []), entry]
    manifest.pop("files", None)
    target.publish(tmp, manifest)
    return manifest


def update_index(
    corpus: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    *,
    delete_missing: bool = False,
    fields: CorpusFields | None = None,
    encoder: str | None = None,
    batch_size: int = 64,
    device: str | None = None,
    limit: int | None = None,
    wait: float = 0.0,
    progress: Callback | None = None,
    skips: CorpusSkips | None = None,
    retrievers: str | Iterable[str] | None = None,
    sink: EmbedSink | None = None,
) -> dict[str, Any]:
    """Bring an index up to date with ``corpus``; return the new manifest.

    New ids are added, documents whose content hash changed are replaced, unchanged ones are
    reused without re-embedding; with ``delete_missing`` documents absent from the corpus are
    removed. When nothing changed (same documents, same order), no generation is published and
    the live manifest is returned with ``"published": False`` added (not stored).
    ``fields`` default to the ones recorded at build time; ``encoder``, if given,
    must be the one the index was built with (for an index without the dense retriever: the
    one whose tokenizer cut its passages). ``retrievers``, if given, must be the index's:
    an update keeps them. Records skipped while reading (``skips``) count
    as absent from the corpus: the index keeps its version of them unless ``delete_missing``.
    With ``sink``, new and changed passages are embedded there (another engine).

    Raises:
        IndexNotFoundError: ``index_dir`` holds no (format 2) index.
        UsageError: ``encoder`` is not the index's encoder, or ``retrievers`` not its
            retrievers.
        IndexLockedError: Another writer kept the lock for more than ``wait`` seconds.
    """
    with index_writer(index_dir, wait=wait) as target:
        generation = target.live()
        if generation is None:
            raise IndexNotFoundError(f"no index at {index_dir}: run `xenc index` first")
        live = LiveIndex(generation)
        try:
            lazy = _updater(live, encoder, device, batch_size, retrievers, index_dir, sink)
        except BaseException:
            live.close()
            raise
        names = vars(fields) if fields is not None else {
            k: live.manifest["corpus"].get(k) for k in ("id_field", "text_field", "title_field")}
        seen: set[str] = set()

        def entries() -> Iterator[Entry]:
            for doc in read_corpus(corpus, limit=limit, skips=skips, **names):
                seen.add(doc.id)
                yield live.entry(doc)
            yield from live.remaining(seen, drop=delete_missing)

        record = {"kind": "update", "source": source_name(corpus),
                  "delete_missing": delete_missing}
        return _write_update(target, live, entries(), lazy, record, progress, skips)


def _updater(
    live: LiveIndex, encoder: str | None, device: str | None, batch_size: int,
    retrievers: str | Iterable[str] | None, index_dir: object, sink: EmbedSink | None = None,
) -> LazyEncoder:
    """What embeds (or only cuts) the new documents of an update of ``live``."""
    if retrievers is not None and parse_retrievers(retrievers) != live.retrievers:
        built = ",".join(live.retrievers)
        raise UsageError(
            f"index {index_dir} was built with {setting('retrievers', built)}; an update "
            f"keeps its retrievers: leave out {param('retrievers')}, or {_rebuild()}"
        )
    if "dense" not in live.retrievers:
        return LazyEncoder(None, _chunk_tokenizer(live, encoder))
    lazy = engine_encoder(_encoder_loader(live.manifest["encoder"], encoder, device, batch_size),
                          sink)
    if encoder is not None:
        lazy.model  # noqa: B018 - check an explicitly named encoder before any work
    return lazy


def delete_documents(
    index_dir: str | os.PathLike[str],
    ids: Iterable[str],
    *,
    wait: float = 0.0,
    progress: Callback | None = None,
) -> dict[str, Any]:
    """Remove documents by id (unknown ids are counted as ``not_found``); return the manifest.

    Nothing is embedded. With no ids at all, nothing is written.

    Raises:
        IndexNotFoundError: ``index_dir`` holds no (format 2) index.
        UsageError: Every document would be deleted.
        IndexLockedError: Another writer kept the lock for more than ``wait`` seconds.
    """
    wanted = {str(i) for i in ids}
    with index_writer(index_dir, wait=wait) as target:
        generation = target.live()
        if generation is None:
            raise IndexNotFoundError(f"no index at {index_dir}: run `xenc index` first")
        if not wanted:  # nothing to do: no new generation, no history entry
            return store.read_manifest(generation)
        live = LiveIndex(generation)
        found = wanted & live.hashes.keys()
        if len(found) == len(live.hashes):
            live.close()
            raise UsageError(
                f"deleting all {len(found)} documents would leave {index_dir} empty; "
                "remove the directory instead"
            )
        record = {"kind": "delete", "not_found": len(wanted) - len(found)}
        entries = live.remaining(found, drop=False)
        live.stats["deleted"] = len(found)
        nothing = LazyEncoder(_no_encoder if "dense" in live.retrievers else None)
        return _write_update(target, live, entries, nothing, record, progress)


def _no_encoder() -> Encoder:
    raise AssertionError("deleting documents never embeds")
