"""Cross-encoder: scores (query, document) pairs with a sequence-classification model.

Pairs are tokenized query first; the query is never truncated when it fits on its own
(``only_second``), and pairs whose query alone is too long fall back to ``longest_first``.
Every pair longer than :attr:`CrossEncoder.max_length` is counted in
:attr:`CrossEncoder.truncated`, from token lengths.

The forward pass is the only thing a backend changes: ``"torch"`` runs the transformers model,
``"onnx"``/``"onnx-int8"`` run the files ``xenc export`` wrote with onnxruntime on the CPU
(:mod:`xenc.models.ort`), without loading the torch weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from xenc.config import ACTIVATIONS
from xenc.errors import ModelError, UsageError, param
from xenc.models.ort import ONNX_FILES, OnnxSession, check_backend, cpu_device, onnx_path
from xenc.models.resolve import (
    load_config,
    load_model,
    load_tokenizer,
    resolve_model,
)
from xenc.models.runtime import (
    autocast,
    check_dtype,
    default_max_length,
    length_batches,
    select_device,
)

if TYPE_CHECKING:
    import torch

_TORCH_ACTIVATIONS = {"identity": "none", "sigmoid": "sigmoid", "softmax": "softmax"}
_CHUNK = 2048


def _check_activation(name: str, where: str, error: type[Exception]) -> str:
    value = str(name).strip().lower()
    if value not in ACTIVATIONS:
        raise error(f"unknown activation {name!r} {where}: use none, sigmoid or softmax")
    return value


def model_fusion(config: Any, name: str) -> str | None:
    """The fusion the model was validated with (``xenc_fusion`` in its config), if any.

    Raises:
        ModelError: a fusion xenc does not know.
    """
    own = getattr(config, "xenc_fusion", None)
    if own is None:
        return None
    from xenc.fusion import parse_fusion

    try:
        parse_fusion(str(own))
    except UsageError as exc:
        raise ModelError(f"{name}: config.json xenc_fusion: {exc}") from None
    return str(own)


def model_activation(config: Any, num_labels: int) -> str:
    """The activation a model asks for in its config, else sigmoid (1 label) or softmax.

    Reads ``sentence_transformers["activation_fn"]``, then the older
    ``sbert_ce_default_activation_function``, then ``xenc_activation``.

    Raises:
        ModelError: The config names an activation other than identity, sigmoid or softmax.
    """
    st = getattr(config, "sentence_transformers", None)
    path = st.get("activation_fn") if isinstance(st, dict) else None
    path = path or getattr(config, "sbert_ce_default_activation_function", None)
    if path:
        name = str(path).rsplit(".", 1)[-1].lower()
        if name not in _TORCH_ACTIVATIONS:
            raise ModelError(f"model activation {path} unsupported: pass {param('activation')}")
        return _TORCH_ACTIVATIONS[name]
    own = getattr(config, "xenc_activation", None)
    if own:
        return _check_activation(own, "in the model config", ModelError)
    return "sigmoid" if num_labels == 1 else "softmax"


def _check_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    checked = []
    for pair in pairs:
        if isinstance(pair, str) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise UsageError("expected (query, document) pairs of strings")
        checked.append((pair[0], pair[1]))
    return checked


class CrossEncoder:
    """A cross-encoder reranker.

    Args:
        model: Local directory or hub id of a sequence-classification model.
        device: ``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        batch_size: Pairs per forward pass.
        max_length: Token limit per pair; default min(tokenizer max, positions, 512).
        activation: ``"none"``, ``"sigmoid"`` or ``"softmax"``; default from the model.
        trust_pickle_weights: Allow ``pytorch_model.bin`` weights (pickle can run code).
        dtype: ``"float32"``, or ``"float16"``/``"bfloat16"`` autocast on CUDA.
        backend: ``"torch"``; or ``"onnx"``/``"onnx-int8"``, which run the model directory's
            ``model.onnx``/``model-int8.onnx`` (written by ``xenc export``) on the CPU.

    Raises:
        UsageError: No model chosen, or a bad device, dtype, activation, max length or
            backend (the ONNX backends need the CPU).
        ModelError: The model cannot be found or loaded, it has no ONNX file for the
            backend, or onnxruntime is not installed.
    """

    def __init__(
        self,
        model: str | None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        activation: str | None = None,
        trust_pickle_weights: bool = False,
        dtype: str = "float32",
        backend: str = "torch",
    ) -> None:
        if activation is not None:
            activation = _check_activation(activation, f"({param('activation')})", UsageError)
        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {batch_size}")
        self.backend = check_backend(backend)
        self.resolved = resolve_model(model, kind="reranker")
        if self.backend in ONNX_FILES:
            self.device = cpu_device(device, self.backend)
        else:
            self.device = select_device(device)
        self.dtype = check_dtype(dtype, self.device)
        self.batch_size = batch_size
        self._tokenizer = load_tokenizer(self.resolved)
        if self.backend in ONNX_FILES:
            self._model: Any = OnnxSession(onnx_path(self.resolved, self.backend))
            self._forward: Callable[[dict[str, np.ndarray]], np.ndarray] = self._model
            config = load_config(self.resolved)
        else:
            from transformers import AutoModelForSequenceClassification

            loader = AutoModelForSequenceClassification.from_pretrained
            self._model = load_model(
                loader, self.resolved, trust_pickle_weights=trust_pickle_weights
            ).to(self.device)
            self._forward = self._torch_forward
            config = self._model.config
        self.num_labels = int(config.num_labels)
        id2label = getattr(config, "id2label", None) or {}
        self.labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(self.num_labels)]
        self.activation = activation or model_activation(config, self.num_labels)
        self.fusion = model_fusion(config, self.resolved.name)
        self.max_length = default_max_length(self._tokenizer, config, max_length)
        self.truncated = 0
        self._specials = int(self._tokenizer.num_special_tokens_to_add(pair=True))

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face fast tokenizer."""
        return self._tokenizer

    @property
    def model(self) -> Any:
        """The ``transformers`` model in eval mode, or the :class:`~xenc.models.ort.OnnxSession`."""
        return self._model

    def info(self) -> dict[str, Any]:
        """Describe the reranker for run records."""
        return {
            "name": self.resolved.name,
            "source": self.resolved.source,
            "path": self.resolved.path,
            "num_labels": self.num_labels,
            "labels": list(self.labels),
            "activation": self.activation,
            "max_length": self.max_length,
            "fusion": self.fusion,
        }

    def _lengths(self, texts: list[str]) -> np.ndarray:
        """Token counts without special tokens; repeated texts are tokenized once."""
        unique = list(dict.fromkeys(texts))
        counts: dict[str, int] = {}
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            ids = self._tokenizer(
                chunk, add_special_tokens=False, return_attention_mask=False, verbose=False
            )
            counts.update(zip(chunk, (len(x) for x in ids["input_ids"]), strict=True))
        return np.array([counts[t] for t in texts], dtype=np.int64)

    def _pair_lengths(self, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        queries = self._lengths([q for q, _ in pairs])
        totals = queries + self._lengths([d for _, d in pairs]) + self._specials
        return queries, totals

    def tokenize(self, pairs: Sequence[tuple[str, str]]) -> dict[str, torch.Tensor]:
        """Model inputs for pairs exactly as :meth:`predict` builds them (padded, on device)."""
        import torch

        checked = _check_pairs(pairs)
        if not checked:
            raise UsageError("no pairs to tokenize")
        batch = self._tokenize(checked, self._pair_lengths(checked)[0])
        return {key: torch.from_numpy(value).to(self.device) for key, value in batch.items()}

    def _tokenize(
        self, pairs: list[tuple[str, str]], query_lengths: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Padded ``(batch, seq)`` int64 arrays, one per tokenizer output."""
        fits = query_lengths + self._specials < self.max_length
        features: list[dict[str, list[int]]] = [{} for _ in pairs]
        for strategy, chosen in (("only_second", fits), ("longest_first", ~fits)):
            idx = np.flatnonzero(chosen).tolist()
            if not idx:
                continue
            enc = self._tokenizer(
                [pairs[i][0] for i in idx],
                [pairs[i][1] for i in idx],
                truncation=strategy,
                max_length=self.max_length,
            )
            for row, i in enumerate(idx):
                features[i] = {key: enc[key][row] for key in enc.keys()}
        width = max(len(f["input_ids"]) for f in features)
        pad_id = self._tokenizer.pad_token_id or 0
        left = self._tokenizer.padding_side == "left"
        batch = {}
        for key in features[0]:
            fill = pad_id if key == "input_ids" else 0
            rows = []
            for f in features:
                gap = [fill] * (width - len(f[key]))
                rows.append(gap + f[key] if left else f[key] + gap)
            batch[key] = np.array(rows, dtype=np.int64)
        return batch

    def _torch_forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """float32 logits from the torch model (the ONNX backends call an OnnxSession)."""
        import torch

        inputs = {key: torch.from_numpy(value).to(self.device) for key, value in batch.items()}
        with torch.inference_mode(), autocast(self.device, self.dtype):
            return self._model(**inputs).logits.float().cpu().numpy()

    def _activate(self, logits: np.ndarray) -> np.ndarray:
        import torch

        values = torch.from_numpy(logits)
        if self.activation == "sigmoid":
            values = torch.sigmoid(values)
        elif self.activation == "softmax":
            values = torch.softmax(values, dim=-1)
        return values.numpy()

    def predict(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Score pairs, longest first in batches, returned in input order.

        Args:
            pairs: ``(query, document)`` pairs.
            batch_size: Overrides the reranker's batch size for this call.
            progress: Called with the number of pairs done after each batch.

        Returns:
            ``(len(pairs), num_labels)`` float32 array, after the activation.
        """
        checked = _check_pairs(pairs)
        out = np.zeros((len(checked), self.num_labels), dtype=np.float32)
        if not checked:
            return out
        query_lengths, totals = self._pair_lengths(checked)
        for idx in length_batches(totals.tolist(), batch_size or self.batch_size):
            inputs = self._tokenize([checked[i] for i in idx], query_lengths[idx])
            out[idx] = self._activate(self._forward(inputs))
            self.truncated += int((totals[idx] > self.max_length).sum())
            if progress is not None:
                progress(len(idx))
        return out

    def score_pairs(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[float]:
        """One activated score per pair, as Python floats (single-label models only).

        Raises:
            UsageError: The model has several labels (use :meth:`predict`).
        """
        if self.num_labels != 1:
            raise UsageError(
                f"{self.resolved.name} has {self.num_labels} labels ({', '.join(self.labels)}): "
                "use predict() for multi-label scores"
            )
        scores = self.predict(pairs, batch_size=batch_size, progress=progress)
        return [float(s) for s in scores[:, 0]]
