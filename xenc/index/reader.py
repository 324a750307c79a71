"""Reading an index: :class:`Index`, one opened generation of an index directory.

Opening pins the generation ``CURRENT`` names (see :mod:`xenc.index.store`) and runs the
cheap consistency checks; the parts a query needs (BM25 arrays, embeddings, the HNSW graph,
the query encoder) load on first use. The first stage (:mod:`xenc.retrieval.stage`) searches its
parts; the rerank stage (:mod:`xenc.rerank`) never sees it, only its ``docstore``, through the
narrow :class:`xenc.reranking.stage.Passages` protocol.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import numpy as np

from xenc.config import HNSWParams, missing_retriever
from xenc.errors import IndexFormatError, ModelError, UsageError, param
from xenc.index import hnsw
from xenc.index.bm25 import BM25Index, BM25Params
from xenc.index.checks import CORRUPT, check_embeddings, maps_in_order
from xenc.index.store import CHUNK_DOC, DocStore, load_array, open_generation, retrievers_of
from xenc.index.tokenize import Tokenizer, TokenizerSpec
from xenc.models.ort import check_backend, onnx_eligible


@dataclass
class Index:
    """An opened index: one generation, pinned. Heavy parts (HNSW, encoder) load on first use.

    ``directory`` is the index directory as given; ``files`` the generation directory that
    ``CURRENT`` named at open, whose files this object reads until :meth:`close`, even if a
    writer publishes a newer generation meanwhile.

    Not thread-safe: the heavy parts load without a lock, a dense search sets the graph's
    ``ef`` before its query, and the query encoder is a model. Search from one thread at a
    time (a lock, one ``Index`` per thread, or one worker thread; docs/architecture.md).
    """

    directory: Path
    manifest: dict[str, Any]
    docstore: DocStore
    chunk_doc: np.ndarray
    device: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict)
    files: Path | None = None
    _pin: IO[bytes] | None = None
    backend: str = "auto"
    many_queries: bool = True

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], *, device: str | None = None, backend: str = "auto",
        many_queries: bool = True,
    ) -> Index:
        """Open the live generation of ``directory`` and run the cheap consistency checks.

        ``backend`` chooses the query encoder's runtime: ``auto`` (the index's checked ONNX
        export on the CPU where it has one, else torch), ``torch``, or ``onnx``/``onnx-int8``
        (the ONNX export, fp32 either way; an error where the index has none).
        ``many_queries=False`` tunes the index for a process that asks one query and exits:
        the ONNX query encoder skips ONNX Runtime's weight prepacking (~50 ms sooner ready,
        ~3 ms slower a query), and the HNSW graph is searched in place, memory-mapped,
        instead of read whole by hnswlib (0.2 s sooner per 100K passages, ~5 ms slower a
        query). The same rows either way; scores agree to float rounding.

        Raises:
            IndexNotFoundError: No index there.
            IndexFormatError: Another format version, or files whose sizes, shapes or counts
                disagree with the manifest (full hashing is ``xenc verify``'s job).
        """
        directory = Path(directory)
        generation, manifest, pinned = open_generation(directory)
        try:
            docstore = DocStore(generation)
            chunk_doc = load_array(generation, CHUNK_DOC)
            check_open(generation, manifest, docstore, chunk_doc)
        except BaseException:
            pinned.close()
            raise
        return cls(directory, manifest, docstore, chunk_doc, device, files=generation,
                   _pin=pinned, backend=check_backend(backend), many_queries=many_queries)

    @property
    def num_docs(self) -> int:
        return self.docstore.count

    @property
    def num_passages(self) -> int:
        return int(self.chunk_doc.shape[0])

    @property
    def _data(self) -> Path:
        return self.files if self.files is not None else self.directory

    @property
    def retrievers(self) -> tuple[str, ...]:
        """What the index holds: ``("bm25", "dense")``, or ``("bm25",)`` for a BM25-only one."""
        return retrievers_of(self.manifest)

    def _dense(self) -> None:
        """Refuse, in one line, to load a dense part of an index that has none.

        Raises:
            UsageError: The index was built without the dense retriever.
        """
        if "dense" not in self.retrievers:
            raise UsageError(missing_retriever(self.directory, "dense", self.retrievers))

    @cached_property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(TokenizerSpec.from_dict(self.manifest["tokenizer"]))

    @cached_property
    def bm25(self) -> BM25Index:
        return BM25Index.load(self._data, BM25Params.from_dict(self.manifest["bm25"]))

    @cached_property
    def hnsw_params(self) -> HNSWParams:
        self._dense()
        return HNSWParams(**self.manifest["hnsw"])

    @cached_property
    def embeddings(self) -> np.ndarray:
        self._dense()
        matrix = load_array(self._data, hnsw.EMBEDDINGS_FILE)
        check_embeddings(self._data / hnsw.EMBEDDINGS_FILE, matrix)
        return matrix

    @cached_property
    def graph(self) -> Any:
        self._dense()
        dim = int(self.manifest["encoder"]["dim"])
        read = hnsw.load if self.many_queries else hnsw.map_graph
        return read(self._data, dim, self.num_passages, self.hnsw_params)

    @property
    def _onnx_usable(self) -> bool:
        record = self.manifest.get("query_encoder") or {}
        return bool(record.get("check", {}).get("passed") and record.get("file"))

    @property
    def onnx_queries(self) -> bool:
        """Whether :attr:`encoder` is the ONNX query encoder (so loading it imports no torch)."""
        return self._onnx_usable and self.backend != "torch" and onnx_eligible(self.device)

    @cached_property
    def encoder(self) -> Any:
        """The query encoder: ONNX where the manifest records a checked export (see
        :attr:`backend`), else the torch :class:`~xenc.models.encoder.Encoder`.

        Raises:
            ModelError: ``backend`` is onnx but the index has no checked export.
            UsageError: The index has no dense retriever (and so no encoder).
        """
        self._dense()
        record = self.manifest.get("query_encoder") or {}
        usable = self._onnx_usable
        if self.backend in ("onnx", "onnx-int8") and not usable:
            reason = record.get("check", {}).get("reason", "built before xenc exported it")
            raise ModelError(
                f"{self.directory} has no checked ONNX query encoder ({reason}); re-run "
                f"`xenc index --update`, or use {param('backend')} torch"
            )
        if self.onnx_queries:
            from xenc.models.onnx_encoder import OnnxQueryEncoder

            return OnnxQueryEncoder(self._data, record, prepack=self.many_queries)
        from xenc.models.encoder import Encoder

        info = self.manifest["encoder"]
        model = info["name"] if info.get("source") == "bundled" else info["path"]
        return Encoder(model, device=self.device, max_length=info.get("max_length"))

    def close(self) -> None:
        """Close the document store and unpin the generation."""
        self.docstore.close()
        if self._pin is not None:
            self._pin.close()
            self._pin = None


def _shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a ``.npy`` header, without reading the data."""
    try:
        with open(path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if major == 1 else (
                np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(fh)
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}: unreadable ({exc})") from None
    return shape, dtype


def check_open(
    generation: Path, manifest: dict[str, Any], docstore: DocStore, chunk_doc: np.ndarray
) -> None:
    """Cheap checks at open: every count and shape agrees with the manifest.

    Raises:
        IndexFormatError: A file disagrees; the message names it.
    """
    counts = manifest.get("counts", {})
    docs, rows = counts.get("documents"), counts.get("passages")
    dim = manifest.get("encoder", {}).get("dim")
    bad = CORRUPT
    if docstore.count != docs:
        raise IndexFormatError(f"{generation / 'docs.sqlite'}: {docstore.count} "
                               f"documents, the manifest says {docs}; {bad}")
    if chunk_doc.ndim != 1 or chunk_doc.shape[0] != rows or chunk_doc.dtype != np.int32 or (
        rows and not maps_in_order(chunk_doc, docs)
    ):
        raise IndexFormatError(f"{generation / CHUNK_DOC}: does not map {rows} passages "
                               f"to {docs} documents; {bad}")
    expected: dict[str, tuple[tuple[int, ...], type[np.generic]]] = {
        "bm25_doc_len.npy": ((rows,), np.int32)}
    if "dense" in retrievers_of(manifest):
        expected[hnsw.EMBEDDINGS_FILE] = ((rows, dim), np.float32)
    for name, (shape, dtype) in expected.items():
        if _shape(generation / name) != (shape, np.dtype(dtype)):
            raise IndexFormatError(f"{generation / name}: shape or type differs from the "
                                   f"manifest ({rows} passages, dim {dim}); {bad}")
