"""The reranker that ships in ``xenc/assets/reranker`` (issue 14): the real model, not a stand-in.

It loads offline (``HF_HUB_OFFLINE=1``, set for every test by conftest) by default and by
its names, runs on ONNX Runtime without torch by default (its export is checked), agrees
with torch, and on the sample collection puts judged-relevant documents above unjudged ones.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import SAMPLE

from xenc import CrossEncoder
from xenc.models.resolve import DEFAULT_RERANKER, default_reranker_dir, resolve_model


def sample() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    docs = {}
    for line in (SAMPLE / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        docs[d["id"]] = f"{d.get('title') or ''} {d.get('text') or ''}".strip()
    queries = {}
    for line in (SAMPLE / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        queries[q["id"]] = q["text"]
    qrels: dict[str, dict[str, int]] = {}
    for line in (SAMPLE / "qrels.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    return docs, queries, qrels


@pytest.fixture()
def shipped() -> CrossEncoder:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert default_reranker_dir() is not None, "xenc/assets/reranker holds no model"
    return CrossEncoder(None)


def test_it_is_the_default_and_loads_offline_on_onnx(shipped: CrossEncoder) -> None:
    assert shipped.resolved == resolve_model("default", kind="reranker")
    assert (shipped.resolved.name, shipped.resolved.source) == (DEFAULT_RERANKER, "bundled")
    assert shipped.backend == "onnx"  # the checked float16 export: no torch on this path
    assert shipped.fusion and shipped.fusion.split(":")[0] in {"none", "rrf", "linear"}
    weights = default_reranker_dir() / "model.safetensors"
    assert weights.stat().st_size <= 10 * 2**20


def test_onnx_agrees_with_torch(shipped: CrossEncoder) -> None:
    docs, queries, _ = sample()
    texts = sorted(docs.values())[: len(queries)]
    pairs = list(zip(sorted(queries.values()), texts, strict=True))
    torch_scores = CrossEncoder(None, backend="torch").predict(pairs)
    np.testing.assert_allclose(shipped.predict(pairs), torch_scores, atol=1e-4, rtol=0)


def test_judged_documents_outscore_unjudged_ones(shipped: CrossEncoder) -> None:
    """Each (relevant, unjudged) pair of a sample query is one comparison (20 unjudged documents
    a query, every 12th of the sorted ids): more than 90% right over the 46 queries, and more
    than half right on every query."""
    docs, queries, qrels = sample()
    wins = total = 0
    for qid in sorted(qrels):
        relevant = sorted(d for d, g in qrels[qid].items() if g > 0)
        unjudged = sorted(d for d in docs if d not in qrels[qid])[::12][:20]
        scores = dict(zip(relevant + unjudged, shipped.predict(
            [(queries[qid], docs[d]) for d in relevant + unjudged]), strict=True))
        won = sum(scores[r] > scores[u] for r in relevant for u in unjudged)
        assert won > 0.5 * len(relevant) * len(unjudged), qid
        wins, total = wins + won, total + len(relevant) * len(unjudged)
    assert wins / total > 0.9
