"""Writing a generation: the full build, and the assembly every write shares.

Every write produces a complete new generation (see :mod:`xenc.index.store`) laid out exactly
as a fresh build over the same final documents would be: documents in their final order,
passage rows in document order, BM25 and the HNSW graph built over all rows. An index
without the dense retriever (``retrievers`` without ``dense``) has no embeddings, graph or
query encoder, and never loads the bi-encoder: its passages are cut by the encoder's
tokenizer alone, kept in the index as ``chunk_tokenizer.json`` for later updates.
:func:`assemble` writes those files from a stream of :class:`Entry`; :func:`build` feeds it a
whole corpus, :mod:`xenc.index.update` a mix of reused and new documents.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from xenc import __version__
from xenc.config import INDEX_RETRIEVERS, ChunkParams, HNSWParams
from xenc.errors import InputError, UsageError, XencError
from xenc.index import chunking, hnsw, store
from xenc.index.bm25 import BM25Index, BM25Params
from xenc.index.locking import index_writer
from xenc.index.tokenize import Tokenizer, TokenizerSpec
from xenc.io.corpus import CorpusFields, CorpusSkips, read_corpus
from xenc.io.files import source_name
from xenc.progress import Callback
from xenc.records import Document

if TYPE_CHECKING:
    from xenc.models.encoder import Encoder
    from xenc.models.fast_tokenizer import FastTokenizer

DOC_BATCH = 256


@dataclass
class Entry:
    """A document of the generation being written; ``spans``/``vectors`` set when reused."""

    doc: Document
    spans: list[tuple[int, int]] | None = None
    vectors: np.ndarray | Pending | None = None


@dataclass(frozen=True)
class Params:
    """Everything that decides how documents become index files."""

    chunk: ChunkParams
    tokenizer: TokenizerSpec
    bm25: BM25Params
    hnsw: HNSWParams
    retrievers: tuple[str, ...] = INDEX_RETRIEVERS

    @property
    def dense(self) -> bool:
        """Whether the index holds embeddings and a graph (the ``dense`` retriever)."""
        return "dense" in self.retrievers

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Params:
        return cls(
            ChunkParams(**manifest["chunking"]),
            TokenizerSpec.from_dict(manifest["tokenizer"]),
            BM25Params.from_dict(manifest["bm25"]),
            HNSWParams(**manifest.get("hnsw", {})),
            store.retrievers_of(manifest),
        )


@dataclass(frozen=True)
class Pending:
    """Rows ``start:stop`` of the vectors a :class:`DeferredEncoder` returns at the end."""

    start: int
    stop: int

    def __getitem__(self, part: slice) -> Pending:
        start, stop, _ = part.indices(self.stop - self.start)
        return Pending(self.start + start, self.start + stop)


class LazyEncoder:
    """Loads the encoder on first use, so updates without new text never load a model.

    Without ``load`` (an index without the dense retriever) nothing is embedded and passages
    are cut by ``tokenizer`` alone.
    """

    def __init__(
        self, load: Callable[[], Encoder] | None, tokenizer: FastTokenizer | None = None
    ) -> None:
        self._load = load
        self._model: Encoder | None = None
        self._tokenizer = tokenizer

    @property
    def embeds(self) -> bool:
        return self._load is not None

    @property
    def model(self) -> Encoder:
        if self._load is None:
            raise AssertionError("an index without the dense retriever embeds nothing")
        if self._model is None:
            self._model = self._load()
        return self._model

    @property
    def tokenizer(self) -> Any:
        """What cuts passages: the given tokenizer, else the encoder's."""
        return self._tokenizer if self._tokenizer is not None else self.model.tokenizer

    def embed(self, texts: list[str]) -> np.ndarray | Pending:
        return self.model.encode(texts)

    def gather(self) -> np.ndarray | None:
        """Every deferred vector, in the order :meth:`embed` was called (none here)."""
        return None


class EmbedSink(Protocol):
    """Where a :class:`DeferredEncoder` sends passages: another engine (:mod:`xenc.engines`)."""

    def add(self, texts: list[str]) -> None: ...

    def result(self, model: Encoder) -> np.ndarray: ...


class DeferredEncoder(LazyEncoder):
    """Chunks with the local model's tokenizer but leaves the embedding to ``sink``, which
    returns every vector at the end, in the order the texts were added; the same code then
    writes them (see :func:`assemble`)."""

    def __init__(self, load: Callable[[], Encoder], sink: EmbedSink) -> None:
        super().__init__(load)
        self._sink = sink
        self._count = 0

    def embed(self, texts: list[str]) -> Pending:
        self._sink.add(texts)
        self._count += len(texts)
        return Pending(self._count - len(texts), self._count)

    def gather(self) -> np.ndarray | None:
        if not self._count:
            return None
        vectors = self._sink.result(self.model)
        if vectors.shape != (self._count, self.model.dim):
            raise XencError(f"the embedding engine returned {vectors.shape[0]} vectors of "
                            f"{self._count}")
        return vectors


def _add_batch(
    batch: list[Entry], writer: store.DocStoreWriter, encoder: LazyEncoder, chunk: ChunkParams
) -> tuple[list[str], list[int]]:
    """Chunk, store and embed one batch; return its passage texts and their document seqs."""
    todo = [e for e in batch if e.spans is None]
    if todo:
        spans = chunking.chunk_spans([e.doc for e in todo], encoder.tokenizer, chunk)
        for entry, doc_spans in zip(todo, spans, strict=True):
            entry.spans = doc_spans
        store.kill_point("chunked")
    texts: list[str] = []
    seqs: list[int] = []
    new: list[tuple[Entry, int, int]] = []
    for entry in batch:
        passages = [c.passage() for c in writer.add(entry.doc, entry.spans or [])]
        if entry.vectors is None and encoder.embeds:
            new.append((entry, len(texts), len(passages)))
        texts.extend(passages)
        seqs.extend([writer.docs - 1] * len(passages))
    if new:
        vectors = encoder.embed([t for _, a, n in new for t in texts[a : a + n]])
        offset = 0
        for entry, _, n in new:
            entry.vectors, offset = vectors[offset : offset + n], offset + n
    return texts, seqs


def engine_encoder(load: Callable[[], Encoder], sink: EmbedSink | None) -> LazyEncoder:
    """The in-process encoder, or one that defers embedding to ``sink``."""
    return LazyEncoder(load) if sink is None else DeferredEncoder(load, sink)


def _gathered(vectors: list[np.ndarray | Pending], deferred: np.ndarray | None) -> list[np.ndarray]:
    """``vectors`` with each :class:`Pending` replaced by its rows of ``deferred``."""
    out = []
    for v in vectors:
        if isinstance(v, Pending):
            if deferred is None:  # only a DeferredEncoder makes Pending, and it gathers them
                raise XencError("the embedding engine returned no vectors")
            v = deferred[v.start : v.stop]
        out.append(v)
    return out


def assemble(
    entries: Iterable[Entry],
    tmp: Path,
    encoder: LazyEncoder,
    params: Params,
    dim: Callable[[], int],
    progress: Callback | None = None,
) -> tuple[store.DocStoreWriter, BM25Index]:
    """Write every file of a generation into ``tmp`` (the manifest and the query side
    excepted); embeddings and the graph only when ``encoder`` embeds."""
    writer = store.DocStoreWriter(tmp)
    chunk_doc: list[int] = []
    vectors: list[np.ndarray | Pending] = []

    def tokens() -> Iterator[list[str]]:
        tok = Tokenizer(params.tokenizer)
        for batch in chunking.iter_batches(iter(entries), DOC_BATCH):
            texts, seqs = _add_batch(batch, writer, encoder, params.chunk)
            chunk_doc.extend(seqs)
            if encoder.embeds:
                vectors.extend(e.vectors if isinstance(e.vectors, Pending)
                               else np.asarray(e.vectors, dtype=np.float32) for e in batch)
            yield from tok.tokenize_many(texts)
            if progress:
                progress(len(batch))

    lexical = BM25Index.build(tokens(), params.bm25)
    writer.close()
    matrix = None
    if encoder.embeds:
        arrays = _gathered(vectors, encoder.gather())
        matrix = np.concatenate(arrays) if arrays else np.zeros((0, dim()), np.float32)
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        np.save(tmp / hnsw.EMBEDDINGS_FILE, matrix, allow_pickle=False)
        store.kill_point("embedded")
    lexical.save(tmp)
    store.kill_point("bm25")
    if matrix is not None:
        hnsw.save(hnsw.build(matrix, params.hnsw), tmp)
    store.save_chunk_doc(tmp, np.asarray(chunk_doc, dtype=np.int32))
    return writer, lexical


def export_query_side(model: Encoder, tmp: Path) -> dict[str, Any]:
    """Export the encoder's query side to ONNX into ``tmp`` and check it (the manifest's
    ``query_encoder`` record; see :mod:`xenc.models.onnx_encoder`), or hard-link the same
    checked export from the shared cache (:mod:`xenc.models.shared_export`)."""
    from xenc.models.onnx_encoder import export_query_encoder
    from xenc.models.shared_export import export_shared

    return export_shared(model, tmp, export_query_encoder)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link a file of the live generation into the next one (copy where links fail)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def carry_query_encoder(
    live: Path, record: dict[str, Any] | None, tmp: Path, encoder: LazyEncoder | None
) -> dict[str, Any] | None:
    """The query encoder of an updated generation: the live one's checked files, hard-linked
    (copied where links fail), or a new export where it has none and ``encoder`` is given."""
    if record and record.get("check", {}).get("passed"):
        names = [record["file"], record["tokenizer"]] + ([record["data"]] if record.get(
            "data") else [])
        try:
            for name in names:
                link_or_copy(live / name, tmp / name)
            return record
        except OSError:
            for name in names:
                (tmp / name).unlink(missing_ok=True)
    if encoder is None:
        return record
    try:
        return export_query_side(encoder.model, tmp)
    except XencError:
        return record


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def build(
    corpus: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    params: Params,
    model: Encoder | None,
    *,
    chunker: tuple[FastTokenizer, dict[str, Any], Path] | None = None,
    fields: CorpusFields,
    limit: int | None = None,
    wait: float = 0.0,
    progress: Callback | None = None,
    skips: CorpusSkips | None = None,
    sink: EmbedSink | None = None,
) -> dict[str, Any]:
    """A full build over ``corpus``, published as the next generation of ``index_dir``.

    ``model`` is the bi-encoder where ``params.retrievers`` has ``dense``; otherwise it is
    ``None`` and ``chunker`` (:func:`xenc.models.encoder.chunk_tokenizer`) cuts passages.
    With ``sink``, the passages are embedded there (:class:`DeferredEncoder`).
    """
    if (model is None) == (chunker is None):
        raise UsageError("a build takes the encoder or, without dense, its tokenizer alone")
    skips = skips if skips is not None else CorpusSkips()
    docs = read_corpus(corpus, limit=limit, skips=skips, **vars(fields))
    with index_writer(index_dir, wait=wait) as target:
        tmp = target.stage()
        if model is not None:
            encoder = engine_encoder(lambda: model, sink)
        elif chunker is not None:
            encoder = LazyEncoder(None, chunker[0])
            shutil.copyfile(chunker[2], tmp / store.CHUNK_TOKENIZER)
        entries = (Entry(doc) for doc in docs)
        writer, lexical = assemble(
            entries, tmp, encoder, params, lambda: encoder.model.dim, progress)
        if writer.docs == 0:
            raise InputError(source_name(corpus), None, "no documents")
        manifest = {
            "format": store.FORMAT,
            "format_version": store.FORMAT_VERSION,
            "xenc_version": __version__,
            "created_at": now(),
            "retrievers": list(params.retrievers),
            "counts": {"documents": writer.docs, "passages": writer.rows},
            "skipped": skips.to_dict(),
            "corpus": {"source": source_name(corpus), "sha256": writer.corpus_hash(),
                       **vars(fields)},
            "chunking": params.chunk.to_dict(),
            "tokenizer": params.tokenizer.to_dict(),
            "bm25": {**params.bm25.to_dict(), **lexical.to_dict()},
            "history": [],
        }
        if model is not None:
            manifest.update(hnsw=params.hnsw.to_dict(), encoder=model.info(),
                            query_encoder=export_query_side(model, tmp))
        elif chunker is not None:
            manifest["chunk_tokenizer"] = {"file": store.CHUNK_TOKENIZER, **chunker[1]}
        target.publish(tmp, manifest)
    return manifest
