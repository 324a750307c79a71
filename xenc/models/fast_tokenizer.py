"""Tokenizing with the ``tokenizers`` library alone: the query path's tokenizer, no transformers.

A Hugging Face *fast* tokenizer is a thin Python layer over a Rust ``tokenizers.Tokenizer``
saved as ``tokenizer.json``. :class:`FastTokenizer` loads that file with ``tokenizers`` (a few
milliseconds; importing transformers takes seconds) and offers the small part of the
transformers call API that :class:`~xenc.models.cross_encoder.CrossEncoder` and the ONNX query
encoder use: ``tokenizer(texts, pairs, truncation=..., max_length=..., padding=...)`` returning
lists of ids, plus ``model_max_length``, ``pad_token_id``, ``padding_side`` and
``num_special_tokens_to_add``. Truncation and padding are set on the Rust tokenizer for each
call, exactly as transformers does before it encodes, so the ids are the same; ``xenc export``
and ``xenc index`` check that on sample texts before an ONNX file is recorded as checked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xenc.errors import ModelError

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
_NO_LIMIT = int(1e30)  # transformers' VERY_LARGE_INTEGER: "no model_max_length"
_STRATEGIES = ("longest_first", "only_first", "only_second")


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


class FastTokenizer:
    """A ``tokenizers.Tokenizer`` with the transformers call conventions xenc relies on.

    Args:
        tokenizer_file: A ``tokenizer.json``.
        model_max_length: The tokenizer's own length limit (``None``: none).
        pad_token: The padding token's text; default the one in ``tokenizer.json``, else id 0.
        padding_side: ``"right"`` or ``"left"``.
        truncation_side: ``"right"`` or ``"left"``.

    Raises:
        ModelError: The file is missing or not a tokenizer.
    """

    def __init__(
        self,
        tokenizer_file: str | Path,
        *,
        model_max_length: int | None = None,
        pad_token: str | None = None,
        padding_side: str = "right",
        truncation_side: str = "right",
    ) -> None:
        from tokenizers import Tokenizer

        try:
            self._tok = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # noqa: BLE001 - a missing or unreadable file: one line
            text = " ".join(str(exc).split())[:200]
            raise ModelError(f"cannot load tokenizer {tokenizer_file}: {text}") from exc
        self.path = Path(tokenizer_file)
        self.model_max_length = int(model_max_length or _NO_LIMIT)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        padding = self._tok.padding or {}
        pad_text = pad_token or padding.get("pad_token")
        pad_id = self._tok.token_to_id(pad_text) if pad_text else None
        self.pad_token_id: int | None = pad_id if pad_id is not None else padding.get("pad_id")
        self.pad_token = pad_text

    @classmethod
    def from_dir(cls, directory: str | Path) -> FastTokenizer:
        """Load ``tokenizer.json`` with the settings ``tokenizer_config.json`` gives.

        Raises:
            ModelError: The directory has no ``tokenizer.json``.
        """
        directory = Path(directory)
        file = directory / TOKENIZER_FILE
        if not file.is_file():
            raise ModelError(f"{directory} has no {TOKENIZER_FILE}")
        config: dict[str, Any] = {}
        config_file = directory / TOKENIZER_CONFIG
        if config_file.is_file():
            try:
                config = json.loads(config_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot read {config_file}: {exc}") from exc
        return cls(file, **settings_from_config(config))

    @property
    def backend_tokenizer(self) -> Any:
        """The ``tokenizers.Tokenizer``."""
        return self._tok

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return int(self._tok.num_special_tokens_to_add(pair))

    def __call__(
        self,
        text: Sequence[str],
        text_pair: Sequence[str] | None = None,
        *,
        truncation: bool | str = False,
        max_length: int | None = None,
        padding: bool = False,
        add_special_tokens: bool = True,
        return_attention_mask: bool = True,
        return_token_type_ids: bool = True,  # noqa: ARG002 - accepted for call compatibility
        return_offsets_mapping: bool = False,
        verbose: bool = True,  # noqa: ARG002 - accepted for call compatibility
    ) -> dict[str, list[Any]]:
        """Encode a batch of texts (or of pairs), as transformers' fast tokenizers do.

        Returns:
            ``input_ids``, ``token_type_ids``, (unless turned off) ``attention_mask`` and
            (when asked) ``offset_mapping``, the ``(start, end)`` characters of each token:
            one list per text, padded to the longest when ``padding``.
        """
        self._configure(truncation, max_length, padding)
        inputs: list[Any] = list(text) if text_pair is None else list(
            zip(text, text_pair, strict=True))
        encodings = self._tok.encode_batch(inputs, add_special_tokens=add_special_tokens)
        out: dict[str, list[Any]] = {
            "input_ids": [e.ids for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        if return_attention_mask:
            out["attention_mask"] = [e.attention_mask for e in encodings]
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encodings]
        return out

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts of ``texts`` without special tokens, truncation or padding: what
        ``len(ids)`` of ``self(texts, add_special_tokens=False)`` gives, without building the
        id lists."""
        self._configure(False, None, False)
        return [len(e) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def _configure(self, truncation: bool | str, max_length: int | None, padding: bool) -> None:
        if truncation:
            strategy = "longest_first" if truncation is True else str(truncation)
            if strategy not in _STRATEGIES:
                raise ModelError(f"unknown truncation strategy {truncation!r}")
            limit = max_length if max_length is not None else self.model_max_length
            self._tok.enable_truncation(
                limit, stride=0, strategy=strategy, direction=self.truncation_side
            )
        else:
            self._tok.no_truncation()
        if padding:
            pad_id = self.pad_token_id or 0
            self._tok.enable_padding(
                direction=self.padding_side, pad_id=pad_id,
                pad_token=self.pad_token or self._tok.id_to_token(pad_id) or "[PAD]",
            )
        else:
            self._tok.no_padding()


def settings_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """:class:`FastTokenizer` keyword arguments from a ``tokenizer_config.json`` dict."""
    limit = config.get("model_max_length")
    return {
        "model_max_length": int(limit) if isinstance(limit, int | float) and limit < _NO_LIMIT
        else None,
        "pad_token": _token_text(config.get("pad_token")),
        "padding_side": str(config.get("padding_side") or "right"),
        "truncation_side": str(config.get("truncation_side") or "right"),
    }


def settings_of(hf_tokenizer: Any) -> dict[str, Any]:
    """:class:`FastTokenizer` keyword arguments describing a loaded transformers tokenizer."""
    limit = getattr(hf_tokenizer, "model_max_length", None)
    return {
        "model_max_length": int(limit) if limit and limit < _NO_LIMIT else None,
        "pad_token": getattr(hf_tokenizer, "pad_token", None),
        "padding_side": str(getattr(hf_tokenizer, "padding_side", "right")),
        "truncation_side": str(getattr(hf_tokenizer, "truncation_side", "right")),
    }
