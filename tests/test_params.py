"""Every ``*Params`` checks itself when made: from Python and from the shell, one check and one
wording; the CLI only spells the parameter as its flag (``errors.param``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xenc.cli.app import app
from xenc.config import ChunkParams, HNSWParams, SearchParams
from xenc.errors import IndexFormatError, UsageError
from xenc.index.bm25 import BM25Params
from xenc.reranking.documents import RerankOptions
from xenc.training import MineParams, TrainConfig

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def python_message(make) -> str:
    with pytest.raises(UsageError) as caught:
        make()
    return str(caught.value)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SearchParams(k=0), "k must be an integer >= 1, not 0"),
    (lambda: SearchParams(rrf_k=-3), "rrf_k must be an integer >= 1, not -3"),
    (lambda: SearchParams(budget_ms=-5), "budget_ms must be a finite number > 0, not -5"),
    (lambda: SearchParams(candidates=2.5), "candidates must be an integer >= 1, not 2.5"),
    (lambda: BM25Params(k1=-1), "k1 must be a finite number >= 0, not -1"),
    (lambda: BM25Params(b=7), "b must be a finite number >= 0 and <= 1, not 7"),
    (lambda: BM25Params(epsilon=float("nan")), "epsilon must be a finite number >= 0, not nan"),
    (lambda: HNSWParams(M=0), "M must be an integer >= 2, not 0"),
    (lambda: HNSWParams(ef_search=0), "ef_search must be an integer >= 1, not 0"),
    (lambda: HNSWParams(space="hamming"), "space must be one of cosine, ip, l2, not 'hamming'"),
    (lambda: ChunkParams(chunk_tokens=4), "chunk_tokens must be an integer >= 8, not 4"),
    (lambda: ChunkParams(64, 32),
     "stride must be between 0 and half of chunk_tokens (32, excluded), not 32"),
    (lambda: MineParams(depth=0), "depth must be an integer >= 1, not 0"),
    (lambda: MineParams(negatives=-1), "negatives must be an integer >= 0, not -1"),
    (lambda: MineParams(depth=5, skip_top=5), "skip_top must be smaller than depth (5), not 5"),
    (lambda: TrainConfig(output=Path("m"), lr=0), "lr must be a finite number > 0, not 0"),
    (lambda: TrainConfig(output=Path("m"), warmup=1.5),
     "warmup must be a fraction in [0, 1), not 1.5"),
    (lambda: TrainConfig(output=Path("m"), epochs=0), "epochs must be an integer >= 1, not 0"),
    (lambda: RerankOptions(budget_ms=-5), "budget_ms must be a finite number > 0, not -5"),
    (lambda: RerankOptions(top_n=0), "top_n must be an integer >= 1, not 0"),
])
def test_python_rejects_bad_values_with_one_wording(make, message):
    assert python_message(make) == message


@pytest.mark.parametrize(("args", "make", "name", "flag"), [
    (["search", "boat", "-k", "0"], lambda: SearchParams(k=0), "k", "--k"),
    (["search", "boat", "--rrf-k", "-3"], lambda: SearchParams(rrf_k=-3), "rrf_k", "--rrf-k"),
    (["search", "boat", "--budget-ms", "-5"], lambda: SearchParams(budget_ms=-5.0),
     "budget_ms", "--budget-ms"),
    (["eval", "--queries", "q.jsonl", "--qrels", "r.tsv", "--passages-per-doc", "0"],
     lambda: SearchParams(passages_per_doc=0), "passages_per_doc", "--passages-per-doc"),
    (["index", "CORPUS", "--bm25-b", "7"], lambda: BM25Params(b=7.0), "b", "--bm25-b"),
    (["index", "CORPUS", "--bm25-k1", "-1"], lambda: BM25Params(k1=-1.0), "k1", "--bm25-k1"),
    (["index", "CORPUS", "--chunk-tokens", "4", "--chunk-stride", "0"],
     lambda: ChunkParams(4, 0), "chunk_tokens", "--chunk-tokens"),
    (["mine", "--queries", "q.jsonl", "--qrels", "r.tsv", "-o", "out.jsonl",
      "--mine-depth", "0"], lambda: MineParams(depth=0), "depth", "--mine-depth"),
    (["rerank", "--budget-ms", "-5"], lambda: RerankOptions(budget_ms=-5.0), "budget_ms",
     "--budget-ms"),
    (["rerank", "--passages-per-doc", "0"], lambda: RerankOptions(passages_per_doc=0),
     "passages_per_doc", "--passages-per-doc"),
    (["train", "PAIRS", "-o", "m", "--lr", "0"], lambda: TrainConfig(output=Path("m"), lr=0.0),
     "lr", "--lr"),
])
def test_shell_and_python_say_the_same(runner, sample_index, tmp_path, monkeypatch, args, make,
                                       name, flag):
    monkeypatch.chdir(tmp_path)
    args = [str(SAMPLE / "corpus.jsonl") if a == "CORPUS" else
            str(SAMPLE / "pairs.jsonl") if a == "PAIRS" else a for a in args]
    if args[0] in ("search", "eval", "mine"):
        args += ["--index-dir", str(sample_index)]
    if args[0] == "index":
        args += ["--index-dir", str(tmp_path / "idx")]
    result = runner.invoke(app, args)
    expected = python_message(make)
    assert expected.startswith(f"{name} ")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {flag}{expected[len(name):]}\n"
    assert not (tmp_path / "idx").exists() and not (tmp_path / "m").exists()


def test_a_manifest_with_parameters_out_of_range_is_a_damaged_index(sample_index, tmp_path):
    import shutil

    import orjson

    from xenc.pipeline import open_index

    copy = tmp_path / "idx"
    shutil.copytree(sample_index, copy, symlinks=True)
    generation = copy / (copy / "CURRENT").read_text().strip()
    manifest = orjson.loads((generation / "manifest.json").read_bytes())
    manifest["hnsw"]["M"] = 0
    (generation / "manifest.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(IndexFormatError, match=r"manifest.json: M must be an integer >= 2, "
                                               r"not 0; the index is corrupted"):
        open_index(copy)
