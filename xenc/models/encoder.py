"""Bi-encoder: texts → L2-normalized float32 embeddings (cosine similarity = dot product).

Works with any Hugging Face encoder directory or hub id; when the model has a
sentence-transformers layout (``modules.json``, ``1_Pooling/config.json``,
``sentence_bert_config.json``) its pooling and maximum sequence length are honoured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from xenc.errors import ModelError, UsageError
from xenc.io.files import file_sha256
from xenc.models.fast_tokenizer import TOKENIZER_FILE, FastTokenizer
from xenc.models.resolve import (
    ResolvedModel,
    load_model,
    load_tokenizer,
    model_file,
    model_fingerprint,
    read_json,
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

POOLINGS = ("mean", "cls", "max", "mean_sqrt_len", "lasttoken")
_POOL_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class Layout:
    """What a sentence-transformers layout says about a model (defaults when it has none)."""

    pooling: str = "mean"
    normalize_module: bool = False
    max_seq_length: int | None = None
    lowercase: bool = False
    transformer_dir: str = ""


def _pooling_mode(config: dict[str, Any]) -> str:
    mode = config.get("pooling_mode")
    if mode is None:
        modes = [name for key, name in _POOL_KEYS.items() if config.get(key)]
    else:
        modes = [mode] if isinstance(mode, str) else list(mode)
    modes = ["mean_sqrt_len" if m == "mean_sqrt_len_tokens" else str(m) for m in modes]
    if not modes:
        return "mean"
    if len(modes) != 1 or modes[0] not in POOLINGS:
        raise ModelError(
            f"unsupported pooling {'+'.join(modes)}: supported are {', '.join(POOLINGS)}"
        )
    return modes[0]


def read_layout(model: ResolvedModel) -> Layout:
    """Read pooling, normalization and max length from a sentence-transformers layout.

    Raises:
        ModelError: ``modules.json`` lists a module this encoder cannot reproduce (e.g. Dense).
    """
    modules = read_json(model, "modules.json") or []
    pooling, normalize, transformer_dir = "mean", False, ""
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        path = str(module.get("path", "")).strip("/")
        if kind == "Transformer":
            transformer_dir = path
        elif kind == "Pooling":
            pooling = _pooling_mode(read_json(model, f"{path}/config.json") or {})
        elif kind == "Normalize":
            normalize = True
        else:
            raise ModelError(f"{model.name}: unsupported sentence-transformers module {kind}")
    sbert_file = str(PurePosixPath(transformer_dir) / "sentence_bert_config.json")
    sbert = read_json(model, sbert_file) or {}
    return Layout(
        pooling=pooling,
        normalize_module=normalize,
        max_seq_length=sbert.get("max_seq_length"),
        lowercase=bool(sbert.get("do_lower_case", False)),
        transformer_dir=transformer_dir,
    )


def chunk_tokenizer(model: str | None = None) -> tuple[FastTokenizer, dict[str, Any], Path]:
    """The encoder's tokenizer alone, for cutting passages without the encoder.

    An index without the dense retriever never loads the bi-encoder, yet cuts passages as
    one with it would: with the same ``tokenizer.json`` (read by the ``tokenizers`` library,
    so neither torch nor transformers is imported), whose offsets are those the encoder's
    fast tokenizer gives.

    Args:
        model: Alias, local directory or hub id; ``None`` for the bundled all-MiniLM-L6-v2.

    Returns:
        The tokenizer, its manifest record (``name``, ``source``, ``path``, ``sha256`` of the
        file) and the file itself.

    Raises:
        ModelError: The model cannot be found, or has no ``tokenizer.json``.
    """
    resolved = resolve_model(model, kind="encoder")
    subdir = read_layout(resolved).transformer_dir
    name = str(PurePosixPath(subdir) / TOKENIZER_FILE) if subdir else TOKENIZER_FILE
    file = model_file(resolved, name)
    if file is None:
        raise ModelError(f"{resolved.name} has no {TOKENIZER_FILE}, which cuts passages "
                         "without loading the encoder")
    record = {"name": resolved.name, "source": resolved.source, "path": resolved.path,
              "sha256": file_sha256(file)}
    return FastTokenizer(file), record, file


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool token states ``(batch, tokens, dim)`` to ``(batch, dim)`` float32, skipping padding."""
    import torch

    hidden = hidden.float()
    if mode == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(weights == 0, float("-inf")).amax(dim=1)
    if mode == "lasttoken":
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    summed = (hidden * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1e-9)
    return summed / (counts.sqrt() if mode == "mean_sqrt_len" else counts)


class Encoder:
    """A bi-encoder producing unit-length float32 embeddings.

    Not thread-safe: xenc takes no lock around its tokenizer and model; one thread at a time.

    Args:
        model: Alias, local directory or hub id; ``None`` for the bundled all-MiniLM-L6-v2.
        device: ``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        batch_size: Texts per forward pass.
        max_length: Token limit; default from the model (see :attr:`max_length`).
        trust_pickle_weights: Allow ``pytorch_model.bin`` weights (pickle can run code).
        dtype: ``"float32"``, or ``"float16"``/``"bfloat16"`` autocast on CUDA.

    Raises:
        UsageError: Bad device, dtype, batch size or max length.
        ModelError: The model cannot be found or loaded.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        batch_size: int = 64,
        max_length: int | None = None,
        trust_pickle_weights: bool = False,
        dtype: str = "float32",
    ) -> None:
        from transformers import AutoModel

        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {batch_size}")
        self.resolved = resolve_model(model, kind="encoder")
        self.device = select_device(device)
        self.dtype = check_dtype(dtype, self.device)
        self.batch_size = batch_size
        # a hub model's tokenizer first: an unreachable hub then fails once, with a clear message
        first = load_tokenizer(self.resolved) if self.resolved.is_hub else None
        self.layout = read_layout(self.resolved)
        weights = self._transformer_model()
        self._tokenizer = first if first is not None else load_tokenizer(weights)
        self._model = load_model(
            AutoModel.from_pretrained, weights, trust_pickle_weights=trust_pickle_weights
        ).to(self.device)
        config = self._model.config
        if max_length is None and self.layout.max_seq_length:
            positions = getattr(config, "max_position_embeddings", None) or 512
            max_length = min(int(self.layout.max_seq_length), positions)
        self._max_length = default_max_length(self._tokenizer, config, max_length)
        self._dim = int(config.hidden_size)
        self._fingerprint: dict[str, Any] | None = None

    def _transformer_model(self) -> ResolvedModel:
        subdir = self.layout.transformer_dir
        if not subdir:
            return self.resolved
        if self.resolved.is_hub:
            raise ModelError(f"{self.resolved.name}: transformer in subfolder {subdir} unsupported")
        return replace(self.resolved, path=str(Path(self.resolved.path) / subdir))

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face fast tokenizer (used to chunk text into passages)."""
        return self._tokenizer

    @property
    def model(self) -> Any:
        """The underlying ``transformers`` model, in eval mode."""
        return self._model

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return self._dim

    @property
    def max_length(self) -> int:
        """Token limit: the argument, else ``max_seq_length``, else the model's own (≤ 512)."""
        return self._max_length

    @property
    def pooling(self) -> str:
        """Pooling mode: mean, cls, max, mean_sqrt_len or lasttoken."""
        return self.layout.pooling

    def info(self) -> dict[str, Any]:
        """Describe the encoder for an index manifest (hashes the weights once)."""
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.resolved)
        return {
            "name": self.resolved.name,
            "source": self.resolved.source,
            "path": self.resolved.path,
            "revision": self._fingerprint["revision"],
            "dim": self.dim,
            "pooling": self.pooling,
            "normalize": True,
            "max_length": self.max_length,
            "sha256": self._fingerprint["sha256"],
        }

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed texts, longest first in batches, returned in input order.

        Args:
            texts: The texts to embed.
            batch_size: Overrides the encoder's batch size for this call.
            progress: Called with the number of texts done after each batch.

        Returns:
            ``(len(texts), dim)`` float32 array with unit-length rows.

        Raises:
            UsageError: ``texts`` is a single string or holds non-strings.
        """
        import torch

        if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
            raise UsageError("encode() expects a sequence of strings")
        if self.layout.lowercase:
            texts = [t.lower() for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        size = batch_size or self.batch_size
        with torch.inference_mode(), autocast(self.device, self.dtype):
            for idx in length_batches([len(t) for t in texts], size):
                out[idx] = self._embed([texts[i] for i in idx])
                if progress is not None:
                    progress(len(idx))
        return out

    def _embed(self, batch: list[str]) -> np.ndarray:
        import torch

        enc = self._tokenizer(
            batch,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        enc = {key: value.to(self.device) for key, value in enc.items()}
        hidden = self._model(**enc)[0]
        pooled = pool(hidden, enc["attention_mask"], self.pooling)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().numpy()
