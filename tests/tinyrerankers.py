"""Tiny random rerankers of the 2026 families, for tests (a helper module, not a test file).

- Causal-LM rerankers: a ``Qwen3ForCausalLM``, a ``Qwen2ForCausalLM`` and a ``GemmaForCausalLM``,
  each with a chat template that renders ``query`` and ``document`` messages (and a ``system``
  message's instruction). The Qwen3 one is a plain transformers directory (recognised by its
  ``*ForCausalLM`` architecture, ``yes``/``no`` tokens); the Qwen2 and Gemma ones are saved by
  sentence-transformers' own ``CrossEncoder.save`` with a ``LogitScore`` module (Qwen2:
  ``1``/``0`` tokens and a default prompt; Gemma: a template that reads structured content).
- Sequence-classification rerankers: an XLM-RoBERTa and a ModernBERT.

Weights are random but deterministic (``torch.manual_seed``); the tokenizer is a WordPiece over
:func:`tinymodels.vocabulary` plus each family's special tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinymodels import vocabulary

QWEN_TEMPLATE = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    "and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n"
    "<|im_start|>user\n<Instruct>: "
    "{{ (messages | selectattr('role', 'eq', 'system') | map(attribute='content') | first) "
    "or 'Given a web search query, retrieve relevant passages that answer the query' }}\n"
    "<Query>: {{ messages | selectattr('role', 'eq', 'query') | map(attribute='content') "
    "| first }}\n"
    "<Document>: {{ messages | selectattr('role', 'eq', 'document') "
    "| map(attribute='content') | first }}<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n\n</think>\n\n"
)
GEMMA_TEMPLATE = (
    "<bos><start_of_turn>user\n"
    "{% for m in messages %}{% if m.role == 'system' %}{{ m.content[0].text }}\n{% endif %}"
    "{% endfor %}"
    "A: {{ (messages | selectattr('role', 'eq', 'query') | first).content[0].text }}\n"
    "B: {{ (messages | selectattr('role', 'eq', 'document') | first).content[0].text }}\n"
    "Given a query A and a passage B, determine whether the passage contains an answer to "
    "the query by providing a prediction of either 'yes' or 'no'.<end_of_turn>\n"
    "<start_of_turn>model\n"
)
_SPECIALS = {
    "qwen": ["<|im_start|>", "<|im_end|>", "<think>", "</think>"],
    "gemma": ["<bos>", "<start_of_turn>", "<end_of_turn>"],
}


def _wordpiece(specials: list[str], template: Any = None, pad: str = "[PAD]",
               lowercase: bool = True) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<s>", "<pad>", "</s>"] + vocabulary()  # XLM-R: pad id < positions
    vocab = {t: i for i, t in enumerate(words)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    if lowercase:
        backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if template is not None:
        single, pair, tokens = template
        backend.post_processor = processors.TemplateProcessing(
            single=single, pair=pair, special_tokens=[(t, vocab[t]) for t in tokens])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=pad, unk_token="[UNK]",
                                  model_max_length=512)
    if specials:
        tok.add_special_tokens({"additional_special_tokens": specials})
    return tok


def _causal_config(arch: str, vocab_size: int, pad_id: int) -> Any:
    import transformers

    shapes = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
              "max_position_embeddings": 512, "vocab_size": vocab_size,
              "pad_token_id": pad_id, "tie_word_embeddings": True,
              "initializer_range": 0.2}  # scores spread wide enough to order
    config = {"qwen3": "Qwen3Config", "qwen2": "Qwen2Config", "gemma": "GemmaConfig"}[arch]
    return getattr(transformers, config)(**shapes)


def make_tiny_causal_reranker(path: str | Path, arch: str = "qwen3", *, seed: int = 0,
                              st_save: bool = False, true_false: tuple[str, str] | None = None,
                              prompts: dict[str, str] | None = None,
                              default_prompt: str | None = None) -> Path:
    """Write a tiny causal-LM reranker directory and return it.

    Args:
        path: Target directory (created).
        arch: ``"qwen3"``, ``"qwen2"`` or ``"gemma"`` (the Gemma template reads structured
            message content, ``content[0].text``).
        seed: torch seed of the random weights.
        st_save: Save through sentence-transformers (``modules.json`` with a ``LogitScore``,
            ``config_sentence_transformers.json``) instead of a plain transformers directory.
        true_false: The LogitScore's true/false tokens (``st_save`` only; default yes/no).
        prompts: Saved prompts (``st_save`` only); ``default_prompt`` names the default.
    """
    import torch
    import transformers

    directory = Path(path)
    raw = directory.with_name(directory.name + "-raw") if st_save else directory
    raw.mkdir(parents=True, exist_ok=True)
    family = "gemma" if arch == "gemma" else "qwen"
    tok = _wordpiece(_SPECIALS[family])
    tok.chat_template = GEMMA_TEMPLATE if family == "gemma" else QWEN_TEMPLATE
    tok.eos_token = "<end_of_turn>" if family == "gemma" else "<|im_end|>"
    torch.manual_seed(seed)
    model_class = {"qwen3": "Qwen3ForCausalLM", "qwen2": "Qwen2ForCausalLM",
                   "gemma": "GemmaForCausalLM"}[arch]
    model = getattr(transformers, model_class)(_causal_config(arch, len(tok), tok.pad_token_id))
    model.save_pretrained(raw)
    tok.save_pretrained(raw)
    if not st_save:
        return directory
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder.modules.logit_score import LogitScore

    true, false = true_false or ("yes", "no")
    transformer = Transformer(str(raw), transformer_task="text-generation")
    ids = transformer.tokenizer.convert_tokens_to_ids([true, false])
    score = LogitScore(true_token_id=ids[0], false_token_id=ids[1])
    ce = CrossEncoder(modules=[transformer, score], prompts=prompts,
                      default_prompt_name=default_prompt)
    ce.save(str(directory))
    return directory


def make_tiny_xlm_roberta(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny ``XLMRobertaForSequenceClassification`` reranker (one label)."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    template = ("<s> $A </s>", "<s> $A </s> </s> $B </s>", ["<s>", "</s>"])
    tok = _wordpiece([], template, pad="<pad>")
    tok.add_special_tokens({"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                            "cls_token": "<s>"})
    config = XLMRobertaConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=514, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, num_labels=1,
        initializer_range=0.2)
    torch.manual_seed(seed)
    XLMRobertaForSequenceClassification(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def make_tiny_modernbert(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny ``ModernBertForSequenceClassification`` reranker (one label)."""
    import torch
    from transformers import ModernBertConfig, ModernBertForSequenceClassification

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    template = ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B [SEP]", ["[CLS]", "[SEP]"])
    tok = _wordpiece([], template)
    tok.add_special_tokens({"cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"})
    config = ModernBertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id,
        bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, num_labels=1,
        global_attn_every_n_layers=2, local_attention=16, initializer_range=0.2)
    torch.manual_seed(seed)
    ModernBertForSequenceClassification(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory
