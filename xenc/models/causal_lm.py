"""Causal-LM rerankers (Qwen3-Reranker, mxbai-rerank-v2, bge-reranker-v2-gemma and kin), scored
as sentence-transformers (>= 5.4) scores them.

- **Prompt.** The tokenizer's chat template renders one conversation per pair: a ``system``
  message with the instruction (when there is one), then a ``query`` and a ``document``
  message. The instruction is ``instruction`` if given, else the model's default prompt
  (``config_sentence_transformers.json``: ``prompts[default_prompt_name]``), else none, and
  the template then writes its own default. Message content is a plain string or a list of
  ``{"type": "text"}`` parts, as sentence-transformers infers from the template. Extra
  template arguments come from ``sentence_bert_config.json`` (``processing_kwargs``).
- **Score.** ``logit(true) - logit(false)`` at the last position, the token ids from the
  ``LogitScore`` module's config (else the tokens ``yes`` and ``no``), then the activation
  (``activation_fn`` of the saved config; sigmoid by default).
- **Padding.** Left, so the last position is a real token in every row; batches are sorted
  by length, so a batch scores as its pairs one by one.
- **Truncation.** A rendered pair longer than ``max_length`` keeps its first tokens and ends
  with the template's suffix (the tokens every render ends with, found by rendering two
  fillers), exactly as sentence-transformers restores it: what is cut is the end of the
  document, never the template's prefix or suffix. Each such pair counts in ``truncated``.

torch only: there is no ONNX export of this family yet (``xenc export`` says so).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xenc.errors import ModelError, UsageError, param, setting
from xenc.models.cross_encoder import CrossEncoder
from xenc.models.heads import TORCH_ACTIVATIONS, check_activation, model_fusion
from xenc.models.ort import ONNX_FILES, check_backend
from xenc.models.resolve import (
    ResolvedModel,
    load_model,
    load_tokenizer,
    read_json,
    resolve_model,
)
from xenc.models.runtime import (
    check_dtype,
    check_pairs,
    default_max_length,
    length_batches,
    select_device,
)

FAMILY = "causal-lm"
# sentence-transformers' KNOWN_MODEL_TYPES_MESSAGE_FORMATS and its structured-content patterns
_FLAT_TYPES = frozenset({"apertus", "deepseek_v3", "gpt_oss", "minicpm3", "seed_oss"})
_STRUCTURED = ("content[0]", ".type", "'type'", '"type"', "item.type", "message.content[")
_PROBE = ("xenc-probe-query", "xenc-probe-document")


def is_causal_lm(model: ResolvedModel) -> bool:
    """Whether a model directory is a causal-LM reranker: its config names a ``*ForCausalLM``
    architecture, or its sentence-transformers modules end in a ``LogitScore``."""
    config = read_json(model, "config.json") or {}
    archs = config.get("architectures") or [] if isinstance(config, dict) else []
    if archs and str(archs[0]).endswith("ForCausalLM"):
        return True
    return _logit_score(model) is not None


def _logit_score(model: ResolvedModel) -> dict[str, Any] | None:
    modules = read_json(model, "modules.json")
    for module in modules if isinstance(modules, list) else []:
        if isinstance(module, dict) and str(module.get("type", "")).endswith("LogitScore"):
            path = str(module.get("path") or "").strip("/")
            return read_json(model, f"{path}/config.json" if path else "config.json") or {}
    return None


def _token_ids(model: ResolvedModel, tokenizer: Any) -> tuple[int, int | None]:
    saved = _logit_score(model)
    if saved and saved.get("true_token_id") is not None:
        false = saved.get("false_token_id")
        return int(saved["true_token_id"]), None if false is None else int(false)
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ("yes", "no")]
    if None in ids or tokenizer.unk_token_id in ids:
        raise ModelError(f"{model.name}: its tokenizer has no 'yes'/'no' tokens and no saved "
                         "LogitScore config names the true/false tokens")
    return int(ids[0]), int(ids[1])


def _activation(st: dict[str, Any], config: Any) -> str:
    path = st.get("activation_fn")
    own = getattr(config, "sentence_transformers", None)
    path = path or (own.get("activation_fn") if isinstance(own, dict) else None)
    if not path:
        return "sigmoid"  # sentence-transformers' default for a one-score model
    name = str(path).rsplit(".", 1)[-1].lower()
    if name not in TORCH_ACTIVATIONS:
        raise ModelError(f"model activation {path} unsupported: pass {param('activation')}")
    return TORCH_ACTIVATIONS[name]


class ChatTemplate:
    """Renders (query, document) pairs to token ids through the tokenizer's chat template."""

    def __init__(self, name: str, tokenizer: Any, model_type: str, sbert: dict[str, Any]):
        self.tokenizer = tokenizer
        template = getattr(tokenizer, "chat_template", None)
        if not isinstance(template, str) or not template:
            raise ModelError(f"{name} is a causal LM without a chat template: it is not a "
                             "reranker xenc (or sentence-transformers) can prompt")
        config = (sbert.get("modality_config") or {}).get("message") or {}
        fmt = config.get("format") if isinstance(config, dict) else None
        if fmt not in ("flat", "structured"):
            flat = model_type in _FLAT_TYPES or not any(p in template for p in _STRUCTURED)
            fmt = "flat" if flat else "structured"
        self.flat = fmt == "flat"
        kwargs = dict((sbert.get("processing_kwargs") or {}).get("chat_template") or {})
        kwargs.pop("restore_suffix", None)
        self.kwargs = kwargs
        self._suffixes: dict[str | None, list[int]] = {}
        probe = self.text(*_PROBE, None)
        if not all(p in probe for p in _PROBE):
            raise ModelError(f"{name}: its chat template does not render 'query' and "
                             "'document' messages, so it cannot say which text is which")

    def _message(self, role: str, text: str) -> dict[str, Any]:
        return {"role": role, "content": text if self.flat else [{"type": "text", "text": text}]}

    def messages(self, query: str, document: str, instruction: str | None) -> list[dict]:
        """The conversation of one pair, as sentence-transformers builds it."""
        system = [self._message("system", instruction)] if instruction else []
        return [*system, self._message("query", query), self._message("document", document)]

    def text(self, query: str, document: str, instruction: str | None) -> str:
        """One pair rendered to text (untokenized)."""
        return self.tokenizer.apply_chat_template(
            self.messages(query, document, instruction), tokenize=False, **self.kwargs)

    def ids(self, pairs: Sequence[tuple[str, str]], instruction: str | None) -> list[list[int]]:
        """Token ids of each rendered pair, untruncated."""
        conversations = [self.messages(q, d, instruction) for q, d in pairs]
        out = self.tokenizer.apply_chat_template(
            conversations, tokenize=True, return_dict=True, padding=False, truncation=False,
            **self.kwargs)
        return [list(map(int, row)) for row in out["input_ids"]]

    def suffix(self, instruction: str | None) -> list[int]:
        """The tokens every render ends with (sentence-transformers' restored suffix)."""
        if instruction not in self._suffixes:
            first, second = (self.ids([(f, f)], instruction)[0] for f in ("0", "1 2 3 4"))
            count = 0
            for left, right in zip(reversed(first), reversed(second), strict=False):
                if left != right:
                    break
                count += 1
            ok = 0 < count < min(len(first), len(second))
            self._suffixes[instruction] = first[len(first) - count:] if ok else []
        return self._suffixes[instruction]


class CausalLMReranker(CrossEncoder):
    """A causal-LM reranker with the scoring interface of :class:`CrossEncoder`.

    Not thread-safe, like :class:`CrossEncoder`: call it from one thread at a time.

    Args:
        model: Local directory, hub id or preset (or a resolved model).
        device: ``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        batch_size: Pairs per forward pass.
        max_length: Token limit of a rendered pair; default min(tokenizer max, positions, 512).
        activation: ``"none"``, ``"sigmoid"`` or ``"softmax"``; default from the model.
        instruction: The instruction of the prompt; default the model's own.
        trust_pickle_weights: Allow ``pytorch_model.bin`` weights (pickle can run code).
        trust_remote_code: Allow the model's own code (``auto_map``).
        dtype: ``"float32"``, or ``"float16"``/``"bfloat16"`` weights on CUDA.
        backend: ``"auto"`` or ``"torch"`` (this family has no ONNX export).

    Raises:
        UsageError: Bad device, dtype, activation, batch size or max length.
        ModelError: The model cannot be loaded, has no usable chat template or yes/no tokens,
            or an ONNX backend was asked for.
    """

    family = FAMILY

    def __init__(self, model: str | ResolvedModel | None, *, device: str | None = None,
                 batch_size: int = 32, max_length: int | None = None,
                 activation: str | None = None, instruction: str | None = None,
                 trust_pickle_weights: bool = False, trust_remote_code: bool = False,
                 dtype: str = "float32", backend: str = "auto") -> None:
        if activation is not None:
            activation = check_activation(activation, f"({param('activation')})", UsageError)
        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {batch_size}")
        resolved = model if isinstance(model, ResolvedModel) else resolve_model(
            model, kind="reranker")
        self.resolved = resolved
        if check_backend(backend) in ONNX_FILES:
            raise ModelError(f"{resolved.name} is a causal-LM reranker: it runs with torch "
                             "only (xenc export does not export this family); use "
                             f"{setting('backend', 'torch')} or the default auto")
        self.backend = "torch"
        self.device = select_device(device)
        self.dtype = check_dtype(dtype, self.device)
        self.batch_size, self.trust_pickle_weights = batch_size, trust_pickle_weights
        self.trust_remote_code = trust_remote_code
        self._tokenizer = load_tokenizer(resolved, trust_remote_code=trust_remote_code)
        self._tokenizer.padding_side = "left"
        from transformers import AutoModelForCausalLM

        self._model = load_model(
            AutoModelForCausalLM.from_pretrained, resolved,
            trust_pickle_weights=trust_pickle_weights, trust_remote_code=trust_remote_code,
            dtype=None if dtype == "float32" else dtype,
        ).to(self.device)
        self._forward = self._torch_forward
        self._keep_one = "logits_to_keep" in inspect.signature(self._model.forward).parameters
        config = self._model.config
        st = read_json(resolved, "config_sentence_transformers.json") or {}
        sbert = read_json(resolved, "sentence_bert_config.json") or {}
        self.true_id, self.false_id = _token_ids(resolved, self._tokenizer)
        self.num_labels, self.labels = 1, ["score"]
        self.activation = activation or _activation(st, config)
        self.fusion = model_fusion(config, resolved.name)
        prompts = st.get("prompts") or {}
        default = st.get("default_prompt_name")
        self.instruction = instruction if instruction is not None else (
            prompts.get(default) if default else None)
        self.max_length = default_max_length(self._tokenizer, config, max_length)
        self.truncated = 0
        model_type = str(getattr(config, "model_type", ""))
        self.template = ChatTemplate(resolved.name, self._tokenizer, model_type, sbert)

    def info(self) -> dict[str, Any]:
        """Describe the reranker for run records (with its family, instruction and tokens)."""
        return {**super().info(), "family": FAMILY, "instruction": self.instruction,
                "true_token_id": self.true_id, "false_token_id": self.false_id}

    def _rows(self, pairs: list[tuple[str, str]]) -> tuple[list[list[int]], np.ndarray]:
        ids = self.template.ids(pairs, self.instruction)
        return ids, np.array([len(row) for row in ids], dtype=np.int64)

    def _fit(self, row: list[int]) -> list[int]:
        """A rendered pair cut to ``max_length``, its template suffix restored."""
        if len(row) <= self.max_length:
            return row
        suffix = self.template.suffix(self.instruction)
        keep = min(len(suffix), self.max_length)
        return row[: self.max_length - keep] + suffix[len(suffix) - keep:]

    def _pad(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        width = max(len(r) for r in rows)
        pad = self._tokenizer.pad_token_id
        pad = 0 if pad is None else int(pad)
        ids = np.array([[pad] * (width - len(r)) + r for r in rows], dtype=np.int64)
        mask = np.array([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask}

    def tokenize(self, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Model inputs for pairs exactly as :meth:`predict` builds them (left-padded, on
        device)."""
        import torch

        checked = check_pairs(pairs, self.max_length)
        if not checked:
            raise UsageError("no pairs to tokenize")
        rows, _ = self._rows(checked)
        batch = self._pad([self._fit(r) for r in rows])
        return {key: torch.from_numpy(value).to(self.device) for key, value in batch.items()}

    def _torch_forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """``logit(true) - logit(false)`` at the last position, float32, shape (batch, 1)."""
        import torch

        inputs = {key: torch.from_numpy(value).to(self.device) for key, value in batch.items()}
        extra = {"logits_to_keep": 1} if self._keep_one else {}
        with torch.inference_mode():
            last = self._model(**inputs, **extra).logits[:, -1, :].float()
        score = last[:, self.true_id]
        if self.false_id is not None:
            score = score - last[:, self.false_id]
        return score.unsqueeze(1).cpu().numpy()

    def _predict_matrix(self, pairs: Sequence[tuple[str, str]], *,
                        batch_size: int | None = None,
                        progress: Callable[[int], None] | None = None
                        ) -> tuple[np.ndarray, int]:
        checked = check_pairs(pairs, self.max_length)
        out = np.zeros((len(checked), 1), dtype=np.float32)
        cut = 0
        if not checked:
            return out, cut
        rows, lengths = self._rows(checked)
        for idx in length_batches(lengths.tolist(), batch_size or self.batch_size):
            out[idx] = self._activate(self._forward(self._pad([self._fit(rows[i]) for i in idx])))
            cut += int((lengths[idx] > self.max_length).sum())
            if progress is not None:
                progress(len(idx))
        return out, cut
