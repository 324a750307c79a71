"""One checked ONNX query encoder per bi-encoder, shared by every index that uses it.

Exporting the query side (:mod:`xenc.models.onnx_encoder`) traces the model, re-saves it and
checks it against torch: about 5 s, and 87 MB of files, which a one-document index paid in
full (issue 27). The export depends only on the encoder's weights and settings and on the
exporting libraries, so it is kept once under a content key (:func:`export_key`) in
``$XENC_CACHE_DIR/query-encoders/KEY/`` (default ``~/.cache/xenc``; ``XENC_CACHE_DIR=off``
turns sharing off) and hard-linked into each new index.

An index stays self-contained: its generation directory holds the files themselves (hard
links; copies where the cache is on another file system), so it can be copied, moved or
read offline without the cache, and deleting the cache deletes nothing an index needs.
Before a shared copy is used, its files are checked against the sha256 recorded when it was
exported; a damaged entry is exported again and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xenc.models.resolve import _sha256

CACHE_ENV = "XENC_CACHE_DIR"
SUBDIR = "query-encoders"
RECORD = "record.json"
# Bumped whenever the export itself changes (what is traced, checked or written).
EXPORT_VERSION = 2  # 2: traced with eager attention
_OFF = {"", "0", "off", "none", "false", "no"}


def cache_root() -> Path | None:
    """Where shared exports live, or ``None`` when ``XENC_CACHE_DIR`` turns sharing off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xenc"


def export_key(encoder: Any) -> str:
    """The content key of ``encoder``'s export: its weights' sha256, the settings that shape
    the graph and the tokenizer file, and the versions of the libraries that write them."""
    import onnxruntime
    import torch
    import transformers

    from xenc.models.fast_tokenizer import settings_of

    info = encoder.info()
    settings = {k: v for k, v in settings_of(encoder.tokenizer).items()
                if k != "model_max_length"}
    parts = {
        "export": EXPORT_VERSION, "weights": info["sha256"], "dim": encoder.dim,
        "pooling": encoder.pooling, "max_length": encoder.max_length,
        "lowercase": bool(encoder.layout.lowercase), "tokenizer": settings,
        "versions": [onnxruntime.__version__, torch.__version__, transformers.__version__],
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _names(record: dict[str, Any]) -> list[str]:
    return [record["file"], record["tokenizer"]] + ([record["data"]] if record.get("data") else [])


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def fetch(root: Path, key: str, target: Path) -> dict[str, Any] | None:
    """Link a shared export into ``target`` and return its record; ``None`` when there is
    none, or when its files no longer match their sha256 (the entry is then removed)."""
    entry = root / SUBDIR / key
    try:
        saved = json.loads((entry / RECORD).read_text(encoding="utf-8"))
        record, hashes = saved["record"], saved["sha256"]
        names = _names(record)
        if any(_sha256(entry / n) != hashes.get(n) for n in names):
            shutil.rmtree(entry, ignore_errors=True)
            return None
        linked = []
        try:
            for name in names:
                _link(entry / name, target / name)
                linked.append(target / name)
        except OSError:
            for path in linked:  # never leave a link the export would then write through
                path.unlink(missing_ok=True)
            raise
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record


def store(root: Path, key: str, source: Path, record: dict[str, Any]) -> None:
    """Share a passed export from ``source`` under ``key`` (best effort: a cache that cannot
    be written costs the next index an export, nothing more)."""
    entries = root / SUBDIR
    try:
        entries.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entries))
        try:
            names = _names(record)
            for name in names:
                _link(source / name, tmp / name)
            hashes = {n: _sha256(tmp / n) for n in names}
            text = json.dumps({"key": key, "record": record, "sha256": hashes}, indent=2)
            (tmp / RECORD).write_text(text + "\n", encoding="utf-8")
            os.replace(tmp, entries / key)  # fails if another writer got there first: fine
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        return


def export_shared(
    encoder: Any, target: Path, export: Callable[[Any, Path], dict[str, Any]]
) -> dict[str, Any]:
    """The query encoder of a new index in ``target``: a shared export when one matches,
    else ``export(encoder, target)``, shared when it passed its check."""
    root = cache_root()
    if root is None:
        return export(encoder, target)
    try:
        key = export_key(encoder)
    except (ImportError, KeyError, TypeError, AttributeError):
        return export(encoder, target)
    record = fetch(root, key, target)
    if record is not None:
        return record
    record = export(encoder, target)
    if record.get("check", {}).get("passed"):
        store(root, key, target, record)
    return record
