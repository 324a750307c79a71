"""Fusion of reranker scores with the first-stage ranking (xenc.fusion, --fusion)."""

from __future__ import annotations

import json
import shutil

import orjson
import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.config import RRF_K, SearchParams
from xenc.errors import ModelError, UsageError
from xenc.fusion import effective_fusion, fuse_scores, parse_fusion, rrf
from xenc.records import Candidate
from xenc.reranking.stage import rerank
from xenc.retrieval.hybrid import fuse


def test_none_keeps_the_scores():
    assert fuse_scores([0.2, 0.9], [1, 2], "none") == [0.2, 0.9]


def test_rrf_by_hand():
    # reranker ranks: b (0.9) 1st, a (0.2) 2nd; first-stage ranks: a 1st, b 2nd
    a, b = fuse_scores([0.2, 0.9], [1, 2], "rrf")
    assert a == pytest.approx(1 / 62 + 1 / 61)
    assert b == pytest.approx(1 / 61 + 1 / 62)


def test_one_rrf_sums_reciprocal_ranks_in_first_met_order():
    got = rrf([[("a", 1), ("b", 2)], [("c", 1), ("a", 3)]], k=10)
    assert list(got) == ["a", "b", "c"]
    assert got == {"a": 1 / 11 + 1 / 13, "b": 1 / 12, "c": 1 / 11}
    assert rrf([[("a", 1)]]) == {"a": 1 / (RRF_K + 1)}
    assert RRF_K == SearchParams().rrf_k == 60


def test_both_fusion_paths_use_the_one_rrf():
    # --fusion rrf: reranker ranks (ties keep first-stage order), then first-stage ranks
    scores, ranks = [0.5, 0.9, 0.5, 0.1], [2, 4, None, 1]
    by_hand = rrf([[(1, 1), (0, 2), (2, 3), (3, 4)], [(0, 2), (1, 4), (2, 5), (3, 1)]])
    assert fuse_scores(scores, ranks, "rrf") == [by_hand[i] for i in range(4)]
    # hybrid: the same sums, ordered as trec_eval (score descending, then doc id descending)
    bm25 = [Candidate("a", 9.0, 1, (0,)), Candidate("b", 8.0, 2, (1,))]
    dense = [Candidate("b", 0.9, 1, (2,)), Candidate("a", 0.8, 2, (0, 3))]
    fused = fuse([bm25, dense], 5, 7)
    assert [(c.doc_id, c.score, c.rank, c.rows) for c in fused] == [
        ("b", 1 / 9 + 1 / 8, 1, (1, 2)), ("a", 1 / 8 + 1 / 9, 2, (0, 3))]


def test_linear_by_hand():
    # scaled scores 0, 0.5, 1; rank prior over n = 3: 1, 2/3, 1/3
    got = fuse_scores([1.0, 2.0, 3.0], [1, 2, 3], "linear:0.25")
    assert got == pytest.approx([0.75, 0.25 * 0.5 + 0.75 * 2 / 3, 0.25 + 0.75 / 3])
    assert fuse_scores([5.0, 5.0], [2, 1], "linear:1") == [1.0, 1.0]
    assert fuse_scores([1.0, 2.0], [None, 1], "linear:0") == pytest.approx([1 / 3, 1.0])


@pytest.mark.parametrize("spec", ["linear:1.5", "linear:x", "borda", ""])
def test_bad_fusion(spec):
    with pytest.raises(UsageError, match="fusion"):
        parse_fusion(spec)


def test_search_params_check_the_fusion():
    with pytest.raises(UsageError, match="unknown fusion 'max'"):
        SearchParams(fusion="max")
    assert SearchParams(fusion="linear:0.3").fusion == "linear:0.3"


class _Model:
    fusion = "linear:0.5"

    def predict(self, pairs):
        return [[{"p1": 0.0, "p2": 1.0, "p3": 3.0}[d.split()[-1]]] for _, d in pairs]


class _Passages:
    def first_rows(self, doc_ids):
        return {d: int(d[1]) for d in doc_ids}

    def chunks(self, rows):
        from xenc.records import Chunk

        return {r: Chunk(r, f"d{r}", 0, 0, 2, f"p{r}") for r in rows}


def test_rerank_applies_the_fusion():
    cands = [Candidate(f"d{i}", 1.0 / i, i, (i,)) for i in (1, 2, 3)]
    plain = rerank(_Passages(), _Model(), "q", cands, aggregate="first")
    assert [s.candidate.doc_id for s in plain] == ["d3", "d2", "d1"]
    # linear:0.5: d1 0.5*0 + 0.5*1 = 0.5; d2 0.5*(1/3) + 0.5*(2/3) = 0.5; d3 0.5 + 0.5/3
    fused = rerank(_Passages(), _Model(), "q", cands, aggregate="first", fusion="linear:0.5")
    assert [s.candidate.doc_id for s in fused][0] == "d3"
    assert [round(s.score, 6) for s in fused] == [0.666667, 0.5, 0.5]


def test_effective_fusion():
    assert effective_fusion(None, None) == "none"
    assert effective_fusion(None, _Model()) == "linear:0.5"
    assert effective_fusion("none", _Model()) == "none"
    assert effective_fusion("rrf", _Model()) == "rrf"


@pytest.fixture()
def fused_model(tmp_path, tiny_reranker_dir):
    target = tmp_path / "fused"
    shutil.copytree(tiny_reranker_dir, target)
    config = json.loads((target / "config.json").read_text())
    config["xenc_fusion"] = "linear:0.4"
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_model_config_names_its_fusion_and_search_says_so(fused_model, sample_index):
    from xenc.cli.app import app

    base = ["search", "bread", "--index-dir", str(sample_index), "--reranker",
            str(fused_model), "-k", "5", "--retriever", "bm25"]
    default = CliRunner().invoke(app, base)
    assert default.exit_code == 0, default.output
    assert "fusion linear:0.4 (the model's default; --fusion none to turn it off)" in default.stderr
    explicit = CliRunner().invoke(app, [*base, "--fusion", "linear:0.4"])
    assert explicit.stdout == default.stdout
    off = CliRunner().invoke(app, [*base, "--fusion", "none"])
    assert "fusion none" in off.stderr
    first = [orjson.loads(line) for line in default.stdout.splitlines()]
    raw = [orjson.loads(line) for line in off.stdout.splitlines()]
    assert all(0.0 <= r["score"] <= 1.0 for r in first)
    assert [r["score"] for r in raw] != [r["score"] for r in first]


def test_bad_fusion_flag_is_usage_error(sample_index, tiny_reranker_dir):
    from xenc.cli.app import app

    result = CliRunner().invoke(app, ["search", "bread", "--index-dir", str(sample_index),
                                      "--reranker", str(tiny_reranker_dir), "--fusion", "mix"])
    assert result.exit_code == 2
    assert "unknown fusion 'mix'" in result.stderr


def test_eval_reports_the_fusion(fused_model, sample_index):
    from xenc.cli.app import app

    result = CliRunner().invoke(app, [
        "eval", "--index-dir", str(sample_index), "--queries", str(SAMPLE / "queries.jsonl"),
        "--qrels", str(SAMPLE / "qrels.tsv"), "--reranker", str(fused_model),
        "--candidates", "10", "--retriever", "bm25"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["fusion"] == report["params"]["fusion"] == "linear:0.4"  # one answer


def test_unknown_fusion_in_a_model_config(fused_model):
    from xenc.models.cross_encoder import CrossEncoder

    config = json.loads((fused_model / "config.json").read_text())
    config["xenc_fusion"] = "magic"
    (fused_model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="xenc_fusion"):
        CrossEncoder(str(fused_model))
