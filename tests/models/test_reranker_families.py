"""Every reranker family scores as sentence-transformers' ``CrossEncoder.predict`` does, on the
same directory: three causal-LM rerankers (Qwen3, Qwen2, Gemma) and two sequence-classification
ones (XLM-RoBERTa, ModernBERT), tiny and random, through Python, ``xenc score`` and
``xenc search``, at batch sizes 1 and 8, on pairs of mixed lengths. Plus instructions,
truncation (the template's suffix survives), ONNX refusal and the missing-head diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import parse_jsonl, write_jsonl

from xenc.cli.app import app

st = pytest.importorskip("sentence_transformers")

WORDS = ("the sun is a star and water is hot in the north sea where people live near the river "
         "far from the city at night when the moon is over the cold mountain").split()
PAIRS = [(" ".join(WORDS[i % 7: i % 7 + 1 + i % 4]), " ".join(WORDS[: (i * 11) % len(WORDS) + 1]))
         for i in range(12)]
CORPUS = [{"id": f"d{i}", "text": " ".join(WORDS[i * 3: i * 3 + 2 + 5 * (i % 3)])}
          for i in range(9)]
FAMILIES = ["qwen3", "qwen2", "gemma", "xlm-roberta", "modernbert"]
CAUSAL = {"qwen3", "qwen2", "gemma"}
INSTRUCTION = "Given a question, find the passage that answers it"


@pytest.fixture(scope="session")
def family_dirs(tmp_path_factory) -> dict[str, Path]:
    import tinyrerankers as tiny

    root = tmp_path_factory.mktemp("families")
    return {
        "qwen3": tiny.make_tiny_causal_reranker(root / "qwen3", "qwen3"),
        "qwen2": tiny.make_tiny_causal_reranker(
            root / "qwen2", "qwen2", st_save=True, true_false=("1", "0"),
            prompts={"web": "Given a web search query, find the answer"}, default_prompt="web"),
        "gemma": tiny.make_tiny_causal_reranker(root / "gemma", "gemma", st_save=True),
        "xlm-roberta": tiny.make_tiny_xlm_roberta(root / "xlmr"),
        "modernbert": tiny.make_tiny_modernbert(root / "modernbert"),
    }


@pytest.fixture(scope="session")
def st_models(family_dirs):
    return {name: st.CrossEncoder(str(path)) for name, path in family_dirs.items()}


@pytest.fixture(scope="session")
def bm25_index(tmp_path_factory) -> Path:
    from xenc.pipeline import build_index

    root = tmp_path_factory.mktemp("family-index")
    build_index(write_jsonl(root / "corpus.jsonl", CORPUS), root / "idx", retrievers="bm25")
    return root / "idx"


def _same(ours, theirs) -> None:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.ptp(theirs) > 1e-3  # the scores differ enough for the order to mean something
    assert list(np.argsort(-ours, kind="stable")) == list(np.argsort(-theirs, kind="stable"))


@pytest.mark.parametrize("family", FAMILIES)
def test_python_scores_equal_sentence_transformers(family, family_dirs, st_models):
    from xenc import CausalLMReranker, CrossEncoder, load_reranker

    ours = load_reranker(str(family_dirs[family]))
    assert isinstance(ours, CausalLMReranker if family in CAUSAL else CrossEncoder)
    assert ours.backend == "torch" or family not in CAUSAL  # auto picks torch for them
    lengths = {len(ours.tokenize([p])["input_ids"][0]) for p in PAIRS}
    assert len(lengths) > 5  # mixed lengths, so batches pad
    for batch_size in (1, 8):
        _same(ours.predict(PAIRS, batch_size=batch_size),
              st_models[family].predict(PAIRS, batch_size=batch_size))
    assert ours.truncated == 0


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("batch_size", [1, 8])
def test_score_command_equals_sentence_transformers(family, batch_size, runner, tmp_path,
                                                    family_dirs, st_models):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": q, "document": d} for q, d in PAIRS])
    result = runner.invoke(app, ["score", str(pairs), "--reranker", str(family_dirs[family]),
                                 "--batch-size", str(batch_size)])
    assert result.exit_code == 0, result.stderr
    scores = [r["score"] for r in parse_jsonl(result.stdout)]
    _same(scores, st_models[family].predict(PAIRS, batch_size=batch_size))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("batch_size", [1, 8])
def test_search_command_equals_sentence_transformers(family, batch_size, runner, bm25_index,
                                                     family_dirs, st_models):
    query = "sun star water hot north sea people river city night moon cold mountain"
    result = runner.invoke(app, [
        "search", query, "--index-dir", str(bm25_index), "--reranker", str(family_dirs[family]),
        "--candidates", "9", "-k", "9", "--with-text", "document", "--batch-size", str(batch_size)])
    assert result.exit_code == 0, result.stderr
    records = parse_jsonl(result.stdout)
    assert len(records) >= 5 and all(r["reranked"] for r in records)
    expected = st_models[family].predict([(query, r["text"]) for r in records],
                                         batch_size=batch_size)
    scores = [r["score"] for r in records]
    assert np.abs(np.asarray(scores) - expected).max() < 1e-4
    assert scores == sorted(scores, reverse=True)  # xenc's order is sentence-transformers'
    assert list(np.argsort(-expected, kind="stable")) == list(range(len(records)))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("batch_size", [1, 8])
def test_rerank_command_and_api_equal_sentence_transformers(family, batch_size, runner,
                                                            tmp_path, family_dirs, st_models):
    import xenc

    query = "sun star water hot north sea people river city night moon cold mountain"
    docs = [d["text"] for d in CORPUS]
    request = write_jsonl(tmp_path / "req.jsonl", [{"query": query, "documents": docs}])
    result = runner.invoke(app, ["rerank", str(request), "--reranker", str(family_dirs[family]),
                                 "--batch-size", str(batch_size)])
    assert result.exit_code == 0, result.stderr
    records = parse_jsonl(result.stdout)
    expected = st_models[family].predict([(query, d) for d in docs], batch_size=batch_size)
    assert [r["index"] for r in records] == list(np.argsort(-expected, kind="stable"))
    _same([r["score"] for r in sorted(records, key=lambda r: r["index"])], expected)
    api = xenc.rerank(query, docs, str(family_dirs[family]), batch_size=batch_size)
    assert [r.to_dict() for r in api] == records


@pytest.mark.parametrize("family", sorted(CAUSAL))
def test_instruction_is_sentence_transformers_prompt(family, runner, tmp_path, family_dirs,
                                                     st_models):
    from xenc import load_reranker

    ours = load_reranker(str(family_dirs[family]), instruction=INSTRUCTION)
    assert INSTRUCTION in ours.template.text("q", "d", ours.instruction)
    _same(ours.predict(PAIRS), st_models[family].predict(PAIRS, prompt=INSTRUCTION))
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": q, "document": d} for q, d in PAIRS])
    result = runner.invoke(app, ["score", str(pairs), "--reranker", str(family_dirs[family]),
                                 "--instruction", INSTRUCTION])
    assert result.exit_code == 0, result.stderr
    _same([r["score"] for r in parse_jsonl(result.stdout)],
          st_models[family].predict(PAIRS, prompt=INSTRUCTION))


def test_default_instruction_is_the_models_own(family_dirs):
    from xenc import load_reranker

    saved = load_reranker(str(family_dirs["qwen2"]))
    assert saved.instruction == "Given a web search query, find the answer"
    assert "<Instruct>: Given a web search query, find the answer" in saved.template.text(
        "q", "d", saved.instruction)
    assert saved.info()["true_token_id"] == saved.tokenizer.convert_tokens_to_ids("1")
    plain = load_reranker(str(family_dirs["qwen3"]))
    assert plain.instruction is None  # the template writes its own default
    assert "<Instruct>: Given a web search query, retrieve relevant passages" in (
        plain.template.text("q", "d", None))


def test_instruction_refused_for_sequence_classification(runner, tmp_path, family_dirs):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "q", "document": "d"}])
    result = runner.invoke(app, ["score", str(pairs), "--reranker",
                                 str(family_dirs["xlm-roberta"]), "--instruction", "x"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --instruction applies to causal-LM rerankers;")


def test_truncation_keeps_the_template_suffix(runner, tmp_path, family_dirs):
    from xenc import load_reranker

    path, limit = family_dirs["qwen3"], 160
    long_doc = " ".join(WORDS * 6)
    ours = load_reranker(str(path), max_length=limit)
    ids = ours.tokenize([("hot water", long_doc)])["input_ids"][0].tolist()
    full = ours.template.ids([("hot water", long_doc)], None)[0]
    suffix = ours.template.suffix(None)
    assert len(full) > limit and len(ids) == limit and len(suffix) >= 3
    assert ids[-len(suffix):] == suffix == full[-len(suffix):]  # the turn the score follows
    assert ids[: limit - len(suffix)] == full[: limit - len(suffix)]  # prefix and query kept
    kept = ours.tokenizer.decode(ids[: limit - len(suffix)])
    assert kept.startswith("<|im_start|> system")
    assert "< query > : hot water < document > : the sun is a star" in kept
    assert "<|im_end|>" not in kept.split("< document >")[1]  # only the document was cut
    reference = st.CrossEncoder(str(path), max_length=limit)
    pairs = [("hot water", long_doc), ("sun", "the sun is a star"), ("sea", long_doc[:300])]
    _same(ours.predict(pairs), reference.predict(pairs))
    assert ours.truncated == 2
    scored = ours.score(pairs[1:])
    assert scored.truncated == 1 and ours.truncated == 3  # the call's count, and the total
    _same(scored.scores, reference.predict(pairs[1:]))
    source = write_jsonl(tmp_path / "p.jsonl", [{"query": q, "document": d} for q, d in pairs])
    result = runner.invoke(app, ["score", str(source), "--reranker", str(path),
                                 "--max-length", str(limit)])
    assert result.exit_code == 0, result.stderr
    assert f"scored 3 pairs; 2 truncated to {limit} tokens" in result.stderr


def test_causal_lm_has_no_onnx_export(runner, tmp_path, family_dirs):
    pytest.importorskip("onnx")
    path = str(family_dirs["gemma"])
    result = runner.invoke(app, ["export", path, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "is a causal-LM reranker: xenc export does not export this family" in result.stderr
    assert not (tmp_path / "out").exists()
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "q", "document": "d"}])
    result = runner.invoke(app, ["score", str(pairs), "--reranker", path, "--backend", "onnx"])
    assert result.exit_code == 1
    assert "runs with torch only" in result.stderr


def test_causal_lm_without_architecture_is_diagnosed(runner, tmp_path, family_dirs):
    """A decoder reranker whose config names no architecture would load as a sequence
    classifier with a random ``score`` head: an error that says what it seems to be."""
    import shutil

    model = tmp_path / "bare"
    shutil.copytree(family_dirs["qwen3"], model)
    config = json.loads((model / "config.json").read_text())
    del config["architectures"]
    (model / "config.json").write_text(json.dumps(config))
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "q", "document": "d"}])
    result = runner.invoke(app, ["score", str(pairs), "--reranker", str(model)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "as Qwen3ForSequenceClassification lacks 1 weight tensor(s)" in result.stderr
    assert "(score.weight); it looks like a causal-LM reranker (qwen3)" in result.stderr


@pytest.mark.parametrize("family", ["qwen2", "modernbert"])
def test_models_command_names_the_family(runner, family, family_dirs):
    result = runner.invoke(app, ["models", "--reranker", str(family_dirs[family])])
    assert result.exit_code == 0, result.stderr
    record = parse_jsonl(result.stdout)[-1]
    assert record["family"] == ("causal-lm" if family in CAUSAL else "sequence-classification")


def test_dtype_option_passes_through(runner, tmp_path, family_dirs):
    """Half precision needs CUDA (none here): exit 2 before loading; float32 is the default."""
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": q, "document": d} for q, d in PAIRS])
    args = ["score", str(pairs), "--reranker", str(family_dirs["qwen3"])]
    half = runner.invoke(app, [*args, "--dtype", "bfloat16"])
    assert half.exit_code == 2
    assert half.stderr == "Error: dtype bfloat16 needs a CUDA device; use float32 on cpu\n"
    same = [runner.invoke(app, [*args, *extra]) for extra in ([], ["--dtype", "float32"])]
    assert same[0].exit_code == 0 and same[0].stdout == same[1].stdout
