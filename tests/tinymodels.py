"""Tiny random BERT models for fast tests (a helper module, not a test file).

Both builders write a real model directory (safetensors weights, a WordPiece
``BertTokenizerFast`` with ``tokenizer.json``) that ``transformers`` loads like any other;
weights are random but deterministic (``torch.manual_seed(0)``).
"""

from __future__ import annotations

import inspect
import json
import string
from pathlib import Path
from typing import Any

_WORDS = """
the of and to a in is it you that he was for on are with as his they be at one have this
from or had by hot word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find any new work
part take get place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big
high such follow act why ask men change went light kind off need house picture try us again
animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye
never last let thought city tree cross farm hard start might story saw far sea draw left late
run while press close night real life few north open seem together next white children begin
got walk example ease paper group always music those both mark often letter until mile river
car feet care second book carry took science eat room friend began idea fish mountain stop
once base hear horse cut sure watch color face wood main enough plain girl usual young ready
above ever red list though feel talk bird soon body dog family direct pose leave song measure
door product black short numeral class wind question happen complete ship area half rock order
fire south problem piece told knew pass since top whole king space heard best hour better true
during hundred five remember step early hold west ground interest reach fast verb sing listen
six table travel less morning ten simple several vowel toward war lay against pattern slow
center love person money serve appear road map rain rule govern pull cold notice voice unit
power town fine certain fly fall lead cry dark machine note wait plan figure star box noun
field rest correct able pound done beauty drive stood contain front teach week final gave
green oh quick develop ocean warm free minute strong special mind behind clear tail produce
fact street inch multiply nothing course stay wheel full force blue object decide surface deep
moon island foot system busy test record boat common gold possible plane stead dry wonder laugh
thousand ago ran check game shape equate miss brought heat snow tire bring yes distant fill
east paint language among cat query document search retrieval model text passage rank score
""".split()
_SUFFIXES = "s es ed ing ly er est ion tion ness ment able ful less ity al ous ive".split()


def vocabulary() -> list[str]:
    """The WordPiece vocabulary: specials, characters, '##' pieces and common words."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens += [f"##{c}" for c in string.ascii_lowercase + string.digits]
    tokens += [f"##{s}" for s in _SUFFIXES]
    tokens += _WORDS
    return list(dict.fromkeys(tokens))


def _tokenizer(directory: Path) -> Any:
    from transformers import BertTokenizerFast

    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary()) + "\n", encoding="utf-8")
    params = inspect.signature(BertTokenizerFast.__init__).parameters
    key = "vocab" if "vocab" in params else "vocab_file"  # transformers >= 5 / < 5
    return BertTokenizerFast(**{key: str(vocab_file)}, model_max_length=512)


def _config(**extra: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(vocabulary()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        **extra,
    )


def make_tiny_encoder(path: str | Path) -> Path:
    """Write a tiny BERT bi-encoder with a sentence-transformers layout (mean pooling)."""
    import torch
    from transformers import BertModel

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    BertModel(_config()).save_pretrained(directory)
    _tokenizer(directory).save_pretrained(directory)
    parts = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    modules = [
        {"idx": i, "name": str(i), "path": sub, "type": f"sentence_transformers.models.{kind}"}
        for i, (sub, kind) in enumerate(parts)
    ]
    (directory / "modules.json").write_text(json.dumps(modules, indent=2))
    set_pooling(directory, "mean")
    sbert = {"max_seq_length": 128, "do_lower_case": False}
    (directory / "sentence_bert_config.json").write_text(json.dumps(sbert))
    return directory


def set_pooling(directory: str | Path, mode: str) -> None:
    """Rewrite ``1_Pooling/config.json`` with one legacy ``pooling_mode_*`` flag set."""
    keys = {
        "cls": "pooling_mode_cls_token",
        "mean": "pooling_mode_mean_tokens",
        "max": "pooling_mode_max_tokens",
        "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
    }
    config: dict[str, Any] = {"word_embedding_dimension": 32}
    config.update({key: name == mode for name, key in keys.items()})
    pooling = Path(directory) / "1_Pooling"
    pooling.mkdir(exist_ok=True)
    (pooling / "config.json").write_text(json.dumps(config, indent=2))


def make_tiny_cross_encoder(
    path: str | Path,
    num_labels: int = 1,
    id2label: dict[int, str] | None = None,
    activation: str | None = None,
) -> Path:
    """Write a tiny BERT sequence-classification model.

    Args:
        path: Target directory (created).
        num_labels: Output labels.
        id2label: Label names by id; default ``LABEL_i``.
        activation: ``None``; a dotted torch class such as
            ``"torch.nn.modules.activation.Sigmoid"`` (stored the sentence-transformers way,
            ``config.sentence_transformers["activation_fn"]``); or ``"none"``/``"sigmoid"``/
            ``"softmax"`` (stored as ``config.xenc_activation``).
    """
    import torch
    from transformers import BertForSequenceClassification

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {"num_labels": num_labels}
    if id2label is not None:
        extra["id2label"] = dict(id2label)
        extra["label2id"] = {v: k for k, v in id2label.items()}
    if activation is not None and "." in activation:
        extra["sentence_transformers"] = {"activation_fn": activation}
    elif activation is not None:
        extra["xenc_activation"] = activation
    torch.manual_seed(0)
    BertForSequenceClassification(_config(**extra)).save_pretrained(directory)
    _tokenizer(directory).save_pretrained(directory)
    return directory


def to_pickle_weights(directory: str | Path) -> Path:
    """Replace ``model.safetensors`` by an equivalent pickle ``pytorch_model.bin``.

    (``save_pretrained(safe_serialization=False)`` is gone in transformers 5.)
    """
    import torch
    from safetensors.torch import load_file

    directory = Path(directory)
    weights = directory / "model.safetensors"
    torch.save(load_file(str(weights)), directory / "pytorch_model.bin")
    weights.unlink()
    return directory
