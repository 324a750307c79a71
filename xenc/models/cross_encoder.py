"""Cross-encoder: scores (query, document) pairs with a sequence-classification model.

Pairs are tokenized query first; the query is never truncated when it fits on its own
(``only_second``), and pairs whose query alone is too long fall back to ``longest_first``.
Every pair longer than :attr:`CrossEncoder.max_length` is counted in :attr:`truncated`.

The forward pass is the only thing a backend changes: ``"torch"`` runs the transformers model,
``"onnx"``/``"onnx-int8"`` run the files ``xenc export`` wrote with onnxruntime on the CPU
(:mod:`xenc.models.ort`), without loading the torch weights; ``"auto"`` (the default) is
``"onnx"`` where ``xenc export`` left a checked export, else ``"torch"``
(:mod:`xenc.models.backend`). Where the export's record says ``tokenizer.json`` tokenizes as
transformers does, the ONNX backends tokenize with the ``tokenizers`` library and read the
config as JSON, so they never import torch or transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from xenc.errors import UsageError, param
from xenc.models.backend import resolve_backend, tokenizer_checked
from xenc.models.fast_tokenizer import FastTokenizer, settings_from_config
from xenc.models.heads import check_activation, model_activation, model_fusion
from xenc.models.ort import ONNX_FILES, OnnxSession, cpu_device, onnx_path
from xenc.models.pair_inputs import PAIR_WINDOW, PairEncoder, count_tokens, tokenize_by_call
from xenc.models.resolve import (
    ResolvedModel,
    load_config,
    load_model,
    load_tokenizer,
    model_file,
    read_json,
    resolve_model,
)
from xenc.models.runtime import (
    Scored,
    autocast,
    check_activation_fits,
    check_dtype,
    check_pairs,
    default_max_length,
    length_batches,
    select_device,
)

if TYPE_CHECKING:
    import torch

class _JsonConfig:
    """The config fields the ONNX path reads, from ``config.json`` as plain JSON."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.__dict__.update(raw)
        labels = raw.get("id2label") or {}
        self.id2label = {int(k): str(v) for k, v in labels.items()}
        self.num_labels = len(self.id2label) or int(raw.get("num_labels", 2))


def _onnx_parts(model: ResolvedModel) -> tuple[Any, Any]:
    """Tokenizer and config for an ONNX backend: transformers-free when the export says so."""
    tokenizer_file = model_file(model, "tokenizer.json") if tokenizer_checked(model) else None
    raw = read_json(model, "config.json") if tokenizer_file is not None else None
    if tokenizer_file is None or not isinstance(raw, dict):
        return load_tokenizer(model), load_config(model)
    settings = settings_from_config(read_json(model, "tokenizer_config.json") or {})
    return FastTokenizer(tokenizer_file, **settings), _JsonConfig(raw)


class CrossEncoder:
    """A cross-encoder reranker.

    Not thread-safe (each call sets truncation on the shared tokenizer and adds to the running
    total :attr:`truncated`): call it from one thread at a time (docs/architecture.md).

    Args:
        model: Local directory or hub id of a sequence-classification model.
        device: ``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        batch_size: Pairs per forward pass.
        max_length: Token limit per pair; default min(tokenizer max, positions, 512).
        activation: ``"none"``, ``"sigmoid"`` or ``"softmax"``; default from the model.
        trust_pickle_weights: Allow ``pytorch_model.bin`` weights (pickle can run code).
        trust_remote_code: Allow a model that ships its own code (``auto_map``).
        dtype: ``"float32"``, or ``"float16"``/``"bfloat16"`` autocast on CUDA.
        backend: ``"auto"`` (ONNX fp32 where a checked export exists and the device is the
            CPU, else torch), ``"torch"``; or ``"onnx"``/``"onnx-int8"``, which run the model
            directory's ``model.onnx``/``model-int8.onnx`` (written by ``xenc export``) on
            the CPU.

    Raises:
        UsageError: No model chosen, or a bad device, dtype, activation, max length or
            backend (the ONNX backends need the CPU).
        ModelError: The model cannot be found or loaded, it has no ONNX file for the
            backend, or onnxruntime is not installed.
    """

    family = "sequence-classification"
    instruction: str | None = None  # causal-LM rerankers only

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
        backend: str = "auto",
        trust_remote_code: bool = False,
    ) -> None:
        if activation is not None:
            activation = check_activation(activation, f"({param('activation')})", UsageError)
        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {batch_size}")
        self.resolved = resolve_model(model, kind="reranker")
        self.backend = resolve_backend(backend, self.resolved, device)
        if self.backend in ONNX_FILES:
            self.device: Any = cpu_device(device, self.backend)
            if dtype != "float32":
                raise UsageError(f"dtype {dtype} needs a CUDA device; use float32 on cpu")
        else:
            self.device = select_device(device)
            check_dtype(dtype, self.device)
        self.dtype, self.batch_size = dtype, batch_size
        self.trust_pickle_weights, self.trust_remote_code = trust_pickle_weights, trust_remote_code
        if self.backend in ONNX_FILES:
            self._model: Any = OnnxSession(onnx_path(self.resolved, self.backend))
            self._forward: Callable[[dict[str, np.ndarray]], np.ndarray] = self._model
            self._tokenizer, config = _onnx_parts(self.resolved)
        else:
            self._tokenizer = load_tokenizer(self.resolved, trust_remote_code=trust_remote_code)
            from transformers import AutoModelForSequenceClassification

            self._model = load_model(
                AutoModelForSequenceClassification.from_pretrained, self.resolved,
                trust_pickle_weights=trust_pickle_weights, trust_remote_code=trust_remote_code,
            ).to(self.device)
            self._forward = self._torch_forward
            config = self._model.config
        self.num_labels = int(config.num_labels)
        id2label = getattr(config, "id2label", None) or {}
        self.labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(self.num_labels)]
        self.activation = activation or model_activation(config, self.num_labels)
        check_activation_fits(self.activation, self.num_labels, given=activation is not None)
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

    def _pair_lengths(self, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """``(query_lengths, totals)``: query tokens, and whole-pair tokens with the special
        tokens, before truncation."""
        encoder = self._pair_encoder()
        if encoder is not None:
            encoded = encoder.encode(pairs)
            return encoded.query_lengths, encoded.totals
        queries = count_tokens(self._tokenizer, [q for q, _ in pairs])
        totals = queries + count_tokens(self._tokenizer, [d for _, d in pairs]) + self._specials
        return queries, totals

    def _pair_encoder(self) -> PairEncoder | None:
        """The one-pass pair path (:mod:`xenc.models.pair_inputs`) for this tokenizer and max
        length, made on first use; ``None`` where it does not match the tokenizer's call."""
        key = (id(self._tokenizer), self.max_length)
        if getattr(self, "_pairs_key", None) != key:
            self._pairs = PairEncoder(self._tokenizer, self.max_length, self._tokenize_by_call)
            self._pairs_key = key
        return self._pairs if self._pairs.usable else None

    def tokenize(self, pairs: Sequence[tuple[str, str]]) -> dict[str, torch.Tensor]:
        """Model inputs for pairs exactly as :meth:`predict` builds them (padded, on device)."""
        import torch

        checked = check_pairs(pairs, self.max_length)
        if not checked:
            raise UsageError("no pairs to tokenize")
        batch = self._tokenize(checked, self._pair_lengths(checked)[0])
        return {key: torch.from_numpy(value).to(self.device) for key, value in batch.items()}

    def _tokenize(
        self, pairs: list[tuple[str, str]], query_lengths: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Padded ``(batch, seq)`` int64 arrays, one per model input."""
        encoder = self._pair_encoder()
        if encoder is None:
            return self._tokenize_by_call(pairs, query_lengths)
        return encoder.batch(encoder.encode(pairs), range(len(pairs)))

    def _tokenize_by_call(
        self, pairs: list[tuple[str, str]], query_lengths: np.ndarray
    ) -> dict[str, np.ndarray]:
        """:meth:`_tokenize` through the tokenizer's own call (any tokenizer)."""
        return tokenize_by_call(self._tokenizer, pairs, query_lengths, self.max_length)

    def _torch_forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """float32 logits from the torch model (the ONNX backends call an OnnxSession)."""
        import torch

        inputs = {key: torch.from_numpy(value).to(self.device) for key, value in batch.items()}
        with torch.inference_mode(), autocast(self.device, self.dtype):
            return self._model(**inputs).logits.float().cpu().numpy()

    def _activate(self, logits: np.ndarray) -> np.ndarray:
        # numpy, not torch: the ONNX backends never import torch. float32 throughout.
        values = np.asarray(logits, dtype=np.float32)
        if self.activation == "sigmoid":
            return (1.0 / (1.0 + np.exp(-values))).astype(np.float32)
        if self.activation == "softmax":
            shifted = np.exp(values - values.max(axis=-1, keepdims=True))
            return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
        return values

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
            float32 scores after the activation: shape ``(len(pairs),)`` for a one-score
            model (as sentence-transformers' ``CrossEncoder.predict``), ``(len(pairs),
            num_labels)`` for a model with several labels.
        """
        return self.score(pairs, batch_size=batch_size, progress=progress).scores

    def score(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Scored:
        """:meth:`predict`'s scores, and how many of these pairs were cut to ``max_length``
        (this call's count; ``truncated`` keeps the running total)."""
        out, cut = self._predict_matrix(pairs, batch_size=batch_size, progress=progress)
        self.truncated += cut
        return Scored(out[:, 0] if self.num_labels == 1 else out, cut)

    def _predict_matrix(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, int]:
        """:meth:`predict` as a ``(len(pairs), num_labels)`` array, whatever the labels, and
        the number of pairs cut to ``max_length``."""
        checked = check_pairs(pairs, self.max_length)
        out = np.zeros((len(checked), self.num_labels), dtype=np.float32)
        cut = 0
        if not checked:
            return out, cut
        encoder = self._pair_encoder()
        # The one-pass path holds a window's encodings (the other holds counts only): windows
        # of PAIR_WINDOW pairs bound its memory, each sorted longest first on its own.
        size = PAIR_WINDOW if encoder is not None else len(checked)
        for start in range(0, len(checked), size):
            part = checked[start : start + size]
            encoded = encoder.encode(part) if encoder is not None else None
            query_lengths, totals = ((encoded.query_lengths, encoded.totals) if encoded
                                     else self._pair_lengths(part))
            for idx in length_batches(totals.tolist(), batch_size or self.batch_size):
                inputs = (encoder.batch(encoded, idx) if encoder is not None and encoded
                          else self._tokenize([part[i] for i in idx], query_lengths[idx]))
                out[[start + i for i in idx]] = self._activate(self._forward(inputs))
                cut += int((totals[idx] > self.max_length).sum())
                if progress is not None:
                    progress(len(idx))
        return out, cut

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
        return [float(s) for s in scores]

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_k: int | None = None,
        *,
        return_documents: bool = True,
        batch_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Score ``documents`` against ``query``; return them best first, as
        sentence-transformers' ``CrossEncoder.rank`` does.

        Each entry is ``{"corpus_id": position in documents, "score": float, "text": str}``
        (``text`` only with ``return_documents``). Ties are ordered as everywhere in xenc
        (trec_eval's order: ``corpus_id`` descending). Single-label models only.

        Raises:
            UsageError: ``top_k`` below 1, or a model with several labels.
        """
        if top_k is not None and top_k < 1:
            raise UsageError(f"top_k must be at least 1, got {top_k}")
        scores = self.score_pairs([(query, d) for d in documents], batch_size=batch_size)
        order = sorted(range(len(scores)), reverse=True)
        order.sort(key=scores.__getitem__, reverse=True)  # stable: ties keep id descending
        out = []
        for i in order[:top_k]:
            entry: dict[str, Any] = {"corpus_id": i, "score": scores[i]}
            if return_documents:
                entry["text"] = documents[i]
            out.append(entry)
        return out
