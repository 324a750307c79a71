"""The use cases that commands map onto 1:1: build_index, search, score_pairs_stream, evaluate.

These compose the stages; they parse no arguments and print nothing (progress goes through a
callback). ``xenc.search(...)`` in Python and ``xenc search`` in a shell give the same records.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from xenc import __version__, chunking, hnsw, store
from xenc.bm25 import BM25Index, BM25Params
from xenc.config import ChunkParams, HNSWParams, SearchParams
from xenc.corpus import read_corpus
from xenc.errors import InputError, UsageError
from xenc.formats import source_name
from xenc.progress import Callback
from xenc.ranking import Scored, rerank
from xenc.records import Candidate, Query, Result
from xenc.retrieve import Index, first_stage
from xenc.tokenize import Tokenizer, TokenizerSpec

DOC_BATCH = 256


@dataclass(frozen=True)
class CorpusFields:
    id_field: str | None = None
    text_field: str = "text"
    title_field: str = "title"


def _passages(docs, encoder, tokenizer, params, writer, sink, progress) -> Iterator[list[str]]:
    """Chunk, store and embed documents batch by batch; yield each passage's BM25 tokens."""
    for batch in chunking.iter_batches(docs, DOC_BATCH):
        spans = chunking.chunk_spans(batch, encoder.tokenizer, params)
        texts = []
        for doc, doc_spans in zip(batch, spans, strict=True):
            for chunk in writer.add(doc, doc_spans):
                sink["chunk_doc"].append(writer.docs - 1)
                texts.append(chunk.passage())
        sink["embeddings"].append(encoder.encode(texts))
        yield from tokenizer.tokenize_many(texts)
        if progress:
            progress(len(batch))


def build_index(
    corpus: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    *,
    fields: CorpusFields = CorpusFields(),
    chunk: ChunkParams = ChunkParams(),
    encoder: str | None = None,
    batch_size: int = 64,
    device: str | None = None,
    tokenizer: TokenizerSpec = TokenizerSpec(),
    bm25: BM25Params = BM25Params(),
    hnsw_params: HNSWParams = HNSWParams(),
    limit: int | None = None,
    progress: Callback | None = None,
) -> dict[str, Any]:
    """Build an index directory from a JSONL corpus (a path or ``-``); return its manifest.

    The index is built in a temporary directory and renamed into place when complete; on any
    error nothing is left behind and an existing index at ``index_dir`` is untouched.
    """
    from xenc.encoder import Encoder

    chunking.validate(chunk)
    target = Path(index_dir)
    model = Encoder(encoder, device=device, batch_size=batch_size)
    docs = read_corpus(corpus, limit=limit, **vars(fields))
    with store.staging_directory(target) as tmp:
        writer = store.DocStoreWriter(tmp)
        sink: dict[str, list] = {"chunk_doc": [], "embeddings": []}
        tok = Tokenizer(tokenizer)
        lexical = BM25Index.build(_passages(docs, model, tok, chunk, writer, sink, progress), bm25)
        writer.close()
        if writer.docs == 0:
            raise InputError(source_name(corpus), None, "no documents")
        vectors = np.ascontiguousarray(np.concatenate(sink["embeddings"]), dtype=np.float32)
        np.save(tmp / hnsw.EMBEDDINGS_FILE, vectors, allow_pickle=False)
        hnsw.save(hnsw.build(vectors, hnsw_params), tmp)
        lexical.save(tmp)
        store.save_chunk_doc(tmp, np.asarray(sink["chunk_doc"], dtype=np.int32))
        manifest = {
            "format": store.FORMAT,
            "format_version": store.FORMAT_VERSION,
            "xenc_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": {"documents": writer.docs, "passages": writer.rows},
            "corpus": {"source": source_name(corpus), "sha256": writer.corpus_hash(),
                       **vars(fields)},
            "chunking": chunk.to_dict(),
            "tokenizer": tokenizer.to_dict(),
            "bm25": {**bm25.to_dict(), **lexical.to_dict()},
            "hnsw": hnsw_params.to_dict(),
            "encoder": model.info(),
        }
        store.publish(tmp, target, manifest)
    return manifest


@dataclass(frozen=True)
class QueryRun:
    """Everything one query produced: candidates, reranked list, and time spent in each stage."""

    query: Query
    candidates: list[Candidate]
    ranked: list[Scored]
    first_stage_ms: float
    rerank_ms: float


def check_reranker(model: Any) -> None:
    if model is not None and getattr(model, "num_labels", 1) != 1:
        raise UsageError(
            f"reranker has {model.num_labels} labels; search and eval need a one-score model"
        )


def run_queries(
    index: Index,
    queries: Iterable[Query],
    params: SearchParams,
    reranker: Any | None,
    *,
    rerank_depth: int | None = None,
) -> Iterator[QueryRun]:
    """First stage, then (with a reranker) rerank of the top ``rerank_depth`` candidates."""
    check_reranker(reranker)
    for query in queries:
        t0 = time.perf_counter()
        cands = first_stage(index, query.text, params)
        t1 = time.perf_counter()
        if reranker is None:
            ranked = [Scored(c, c.score, False) for c in cands]
        else:
            ranked = rerank(
                index, reranker, query.text, cands, aggregate=params.aggregate,
                passages_per_doc=params.passages_per_doc, limit=rerank_depth,
            )
        t2 = time.perf_counter()
        yield QueryRun(query, cands, ranked, (t1 - t0) * 1e3, (t2 - t1) * 1e3)


def search(
    index: Index,
    queries: Iterable[Query],
    params: SearchParams = SearchParams(),
    reranker: Any | None = None,
    *,
    with_text: bool = False,
) -> Iterator[Result]:
    """Yield the top ``params.k`` results of each query, in query order then rank order."""
    for run in run_queries(index, queries, params, reranker):
        top = run.ranked[: params.k]
        docs = index.docstore.documents(s.candidate.doc_id for s in top)
        for rank, scored in enumerate(top, start=1):
            cand = scored.candidate
            doc = docs[cand.doc_id]
            yield Result(
                qid=run.query.id, rank=rank, doc_id=cand.doc_id, score=scored.score,
                first_stage_rank=cand.rank, first_stage_score=cand.score,
                reranked=scored.reranked, title=doc.title,
                text=doc.text if with_text else None, metadata=doc.metadata,
            )


def open_index(index_dir: str | os.PathLike[str], *, device: str | None = None) -> Index:
    return Index.open(index_dir, device=device)

