"""The one-pass pair inputs (xenc/models/pair_inputs.py, issue 29): each text tokenized once,
batches built by the tokenizer's post-processor and padded in numpy, equal to the tokenizer's
own pair call, or not used."""

from __future__ import annotations

import numpy as np
import pytest

from xenc.models import cross_encoder as ce_module
from xenc.models.cross_encoder import CrossEncoder
from xenc.models.pair_inputs import PairEncoder, count_tokens, tokenize_by_call

PAIRS = [
    ("how do i keep a sourdough starter alive", "feed the starter flour and water every day"),
    ("bread", "bread " * 80),  # the document overflows: only_second
    ("a very long question about bread " * 12, "short answer"),  # the query overflows
    ("Ünïcödé, café — naïve?!", "東京 and 🙂 and punctuation: yes; no."),
    ("empty passage", ""),
    ("bread", "bread " * 80),  # repeated texts
]


def _reference(tok, max_length):
    return lambda pairs, lengths: tokenize_by_call(tok, pairs, lengths, max_length)


@pytest.mark.parametrize("max_length", [16, 32, 512])
def test_inputs_equal_the_tokenizers_own_pair_call(tiny_reranker_dir, max_length):
    model = CrossEncoder(str(tiny_reranker_dir), max_length=max_length)
    encoder = model._pair_encoder()
    assert encoder is not None and encoder.keys == ("input_ids", "token_type_ids",
                                                    "attention_mask")
    tok = model.tokenizer
    lengths = count_tokens(tok, [q for q, _ in PAIRS])
    encoded = encoder.encode(PAIRS)
    assert encoded.query_lengths.tolist() == lengths.tolist()
    assert encoded.totals.tolist() == (lengths + count_tokens(tok, [d for _, d in PAIRS])
                                       + encoder.specials).tolist()
    for idx in ([0, 1, 2, 3, 4, 5], [2], [4, 0], [1, 5]):
        got = encoder.batch(encoded, idx)
        want = model._tokenize_by_call([PAIRS[i] for i in idx], lengths[idx])
        assert list(got) == list(want)
        for key in want:
            assert got[key].dtype == np.int64
            assert np.array_equal(got[key], want[key]), (idx, key)
    if max_length == 16:  # both strategies and real truncation were exercised
        assert (encoded.query_lengths + encoder.specials >= max_length).any()
        assert (encoded.totals > max_length).sum() >= 3


def test_left_padding_and_left_truncation_follow_the_tokenizer(tiny_reranker_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_reranker_dir))
    tok.padding_side = "left"
    tok.truncation_side = "left"
    encoder = PairEncoder(tok, 20, _reference(tok, 20))
    assert encoder.usable and encoder.left_pad and encoder.direction == "left"
    encoded = encoder.encode(PAIRS)
    got = encoder.batch(encoded, range(len(PAIRS)))
    want = tokenize_by_call(tok, PAIRS, encoded.query_lengths, 20)
    for key in want:
        assert np.array_equal(got[key], want[key]), key
    assert (got["attention_mask"][:, 0] == 0).any()  # padded on the left


def test_a_tokenizer_the_one_pass_path_would_get_wrong_keeps_its_own_call(tiny_reranker_dir,
                                                                          tmp_path):
    """Without a post-processor, a pair's second text gets type id 1 from the pair call and 0
    when encoded alone: the probes catch it and the tokenizer's call is kept."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoTokenizer

    from xenc.models.fast_tokenizer import FastTokenizer

    vocab = AutoTokenizer.from_pretrained(str(tiny_reranker_dir)).get_vocab()
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.save(str(tmp_path / "tokenizer.json"))
    tok = FastTokenizer(tmp_path / "tokenizer.json", pad_token="[PAD]")
    assert tok(["a"], ["b"])["token_type_ids"] == [[0, 1]]
    encoder = PairEncoder(tok, 32, _reference(tok, 32))
    assert encoder.usable is False
    # the same tokenizer with BERT's post-processor agrees, and is used
    bert = FastTokenizer(tiny_reranker_dir / "tokenizer.json")
    assert PairEncoder(bert, 32, _reference(bert, 32)).usable is True

    class Slow:  # a tokenizer without a Rust backend
        pad_token_id = 0
        padding_side = "right"

        def num_special_tokens_to_add(self, pair: bool = False) -> int:
            return 3

    assert PairEncoder(Slow(), 32, _reference(tok, 32)).usable is False


def test_predict_scores_equal_the_tokenizers_call_path_and_windows(tiny_reranker_dir,
                                                                   monkeypatch):
    model = CrossEncoder(str(tiny_reranker_dir), max_length=24, batch_size=2)
    pairs = PAIRS * 3
    fast = model.predict(pairs)
    assert model._pair_encoder() is not None
    model._pairs.usable = False  # the tokenizer's own call, as for a tokenizer without backend
    assert model._pair_encoder() is None
    slow = model.predict(pairs)
    assert np.abs(fast - slow).max() < 1e-5
    assert np.argsort(-fast, kind="stable").tolist() == np.argsort(-slow, kind="stable").tolist()
    model._pairs_key = None  # rebuilt on next use
    monkeypatch.setattr(ce_module, "PAIR_WINDOW", 4)
    before = model.truncated
    windowed = model.predict(pairs)
    alone = np.array([model.predict([p])[0] for p in pairs])
    assert np.abs(windowed - fast).max() < 1e-5 and np.abs(alone - fast).max() < 1e-5
    assert model.truncated - before == 2 * int(sum(  # windowed and alone count the same
        1 for q, d in pairs if len(model.tokenizer(q, d)["input_ids"]) > 24))


def _trained(kind: str):
    """A small tokenizer of another family, trained here on a few sentences: sentencepiece
    style (Unigram, Metaspace, XLM-R's template), byte-level BPE (RoBERTa's processor), or
    WordPiece (BERT's processor)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    text = [q + " " + d for q, d in PAIRS] * 20
    if kind == "unigram":
        backend = Tokenizer(models.Unigram())
        backend.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=120, special_tokens=["<pad>", "<s>", "</s>",
                                                                         "<unk>"],
                                          unk_token="<unk>")
        backend.train_from_iterator(text, trainer)
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
            special_tokens=[("<s>", backend.token_to_id("<s>")),
                            ("</s>", backend.token_to_id("</s>"))])
        return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                       unk_token="<unk>")
    if kind == "bytelevel":
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        backend.train_from_iterator(text, trainer)
        backend.post_processor = processors.RobertaProcessing(
            ("</s>", backend.token_to_id("</s>")), ("<s>", backend.token_to_id("<s>")))
        return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>")
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]",
                                                                       "[CLS]", "[SEP]"])
    backend.train_from_iterator(text, trainer)
    backend.post_processor = processors.BertProcessing(
        ("[SEP]", backend.token_to_id("[SEP]")), ("[CLS]", backend.token_to_id("[CLS]")))
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]",
                                   unk_token="[UNK]")


@pytest.mark.parametrize("kind", ["unigram", "bytelevel", "wordpiece"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_other_tokenizer_families_build_the_same_inputs(kind, side):
    tok = _trained(kind)
    tok.truncation_side = side
    encoder = PairEncoder(tok, 20, _reference(tok, 20))
    assert encoder.usable, kind
    encoded = encoder.encode(PAIRS)
    assert (encoded.totals > 20).sum() >= 2  # truncation happened, both strategies
    got = encoder.batch(encoded, range(len(PAIRS)))
    want = tokenize_by_call(tok, PAIRS, encoded.query_lengths, 20)
    assert list(got) == list(want)
    for key in want:
        assert np.array_equal(got[key], want[key]), (kind, side, key)
