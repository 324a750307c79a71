"""A typed reading of an index's ``manifest.json``: what a command reports after a build, an
update or a delete, read through attributes instead of the stored dict's keys.

:mod:`xenc.index.store` owns the stored form (it writes, parses and checks the dict);
:class:`ManifestView` reads the parts a front end shows. It changes nothing and holds no
reference to the dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xenc.config import INDEX_RETRIEVERS, BM25Params, ChunkParams, HNSWParams
from xenc.errors import IndexFormatError, UsageError, spelled


@dataclass(frozen=True)
class Change:
    """One ``history`` entry: what an update (``kind`` ``update``) or a delete did, counted
    in documents. ``not_found`` is the ids a delete was given that the index did not hold."""

    kind: str
    added: int
    changed: int
    deleted: int
    unchanged: int
    not_found: int = 0

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> Change:
        return cls(
            kind=str(entry.get("kind", "update")), added=int(entry.get("added", 0)),
            changed=int(entry.get("changed", 0)), deleted=int(entry.get("deleted", 0)),
            unchanged=int(entry.get("unchanged", 0)), not_found=int(entry.get("not_found", 0)),
        )


@dataclass(frozen=True)
class ManifestView:
    """The reported parts of a manifest (see docs/index-format.md for every field).

    ``has_encoder``: the index embeds passages (it has an ``encoder`` block).
    ``history``: the updates and deletes since the full build, oldest first.
    ``published``: ``False`` when an update found nothing to change and wrote no generation.
    ``onnx_refused``: why the query encoder was not exported to ONNX (its check failed), else
    ``None``.
    """

    documents: int
    passages: int
    retrievers: tuple[str, ...]
    has_encoder: bool
    history: tuple[Change, ...]
    published: bool
    onnx_refused: str | None

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ManifestView:
        """Read ``manifest`` (as :func:`xenc.index.store.read_manifest` or a build returns it)."""
        counts = manifest["counts"]
        check = (manifest.get("query_encoder") or {}).get("check") or {}
        return cls(
            documents=int(counts["documents"]),
            passages=int(counts["passages"]),
            retrievers=tuple(manifest.get("retrievers", INDEX_RETRIEVERS)),
            has_encoder="encoder" in manifest,
            history=tuple(Change.of(entry) for entry in manifest.get("history") or ()),
            published=manifest.get("published") is not False,
            onnx_refused=f"{check.get('reason')}" if check.get("passed") is False else None,
        )

    @property
    def last_change(self) -> Change | None:
        """The newest ``history`` entry, or ``None`` for a fresh build."""
        return self.history[-1] if self.history else None


def check_params(manifest: Mapping[str, Any], path: Path) -> None:
    """The parameter blocks must make valid ``*Params`` (each checks itself), named as the
    manifest spells them whichever front end reads it."""
    try:
        with spelled(str):
            for key, make in (("chunking", ChunkParams), ("hnsw", HNSWParams)):
                block = manifest.get(key, {})
                if not isinstance(block, dict):
                    raise UsageError(f"\"{key}\" must be an object, not {block!r}")
                make(**block)
            BM25Params.from_dict(manifest.get("bm25", {}))
    except (UsageError, IndexFormatError, TypeError) as exc:
        raise IndexFormatError(f"{path}: {exc}; the index is corrupted") from None
