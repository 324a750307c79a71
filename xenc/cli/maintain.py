"""Maintenance and inspection commands: ``xenc verify``, ``xenc delete`` and ``xenc models``
(merged into xenc.cli.app).

They are thin: they parse options, call :func:`xenc.index.verify.verify`,
:func:`xenc.index.update.delete_documents` or :func:`xenc.models.info.describe_models`, and report.
Exit codes come from :func:`xenc.cli.options.handle_errors`; ``verify`` raises an
:class:`~xenc.errors.XencError` (exit 1) when it finds problems, like any other command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from xenc.cli.options import IndexDir, Reranker, Wait, handle_errors, make_subapp
from xenc.config import ENV_ENCODER, ENV_INDEX_DIR
from xenc.errors import UsageError, XencError

app = make_subapp()


@app.command("verify")
@handle_errors
def verify_cmd(
    index_dir: IndexDir,
    generation: Annotated[str | None, typer.Option(
        "--generation", help="Check this generation (gen-NNNNNN) instead of the live one: "
        "to find one to restore when CURRENT is lost.")] = None,
) -> None:
    """Check an index thoroughly: file hashes, counts, ids, embeddings, BM25, HNSW labels.

    Prints each problem on stderr and exits 1 if there is any.

    \b
    Example:
      xenc verify --index-dir idx || echo "idx is damaged: rebuild it" >&2
    """
    from xenc.index.verify import summary, verify
    from xenc.progress import note

    problems = verify(index_dir, generation=generation)
    for problem in problems:
        sys.stderr.write(f"problem: {problem}\n")
    if problems:
        raise XencError(f"{index_dir}: {len(problems)} problems found")
    note(f"{index_dir}: ok ({summary(index_dir, generation=generation)})")


def read_ids(source: str) -> Iterator[str]:
    """Ids from a file or ``-``: one per line, or JSONL objects with ``id`` (or ``_id``)."""
    from xenc.io.corpus import record_id
    from xenc.io.files import decode, iter_lines, source_name
    from xenc.io.jsonl import parse_object

    name = source_name(source)
    for line_no, line in iter_lines(source):
        if not line.lstrip().startswith(b"{"):
            yield decode(line, name, line_no).strip()
            continue
        yield record_id(parse_object(line, name, line_no), (name, line_no))[1]


@app.command("delete")
@handle_errors
def delete_cmd(
    index_dir: IndexDir,
    ids: Annotated[str, typer.Option(
        "--ids", help="Ids to delete: a file or - (one per line, or JSONL with id).")],
    wait: Wait = 0.0,
) -> None:
    """Delete documents by id: publishes a new generation without them (nothing re-embedded).

    \b
    Example:
      echo astro-001 | xenc delete --index-dir idx --ids - --wait 60
    """
    from xenc.index.manifest_view import ManifestView
    from xenc.index.update import delete_documents
    from xenc.progress import note

    wanted = list(dict.fromkeys(read_ids(ids)))
    if not wanted:
        note(f"no ids in {'<stdin>' if ids == '-' else ids}: nothing deleted")
        return
    left = ManifestView.of(delete_documents(index_dir, wanted, wait=wait))
    last = left.history[-1]  # a delete always adds its entry
    note(f"deleted {last.deleted} documents ({last.not_found} ids not found) from "
         f"{index_dir}; {left.documents} documents left")


@app.command("models")
@handle_errors
def models_cmd(
    encoder: Annotated[str | None, typer.Option(
        envvar=ENV_ENCODER, help="Bi-encoder to describe (default: bundled).")] = None,
    reranker: Reranker = None,
    index_dir: Annotated[Path | None, typer.Option(
        "--index-dir", envvar=ENV_INDEX_DIR, show_default=False,
        help="Describe the encoder of this index (none for a BM25-only one).")] = None,
    presets: Annotated[bool, typer.Option(
        "--presets", help="List the named rerankers (--reranker NAME): hub id, size, licence, "
        "published quality and its source.")] = False,
    fmt: Annotated[str, typer.Option("--format", help=(
        "auto (a table on a terminal, else JSONL), table or json."))] = "auto",
) -> None:
    """Say which encoder and reranker commands would use, from where, and their card's metrics.

    A table on a terminal; one JSON record per model when stdout is a pipe or a file (or
    with --format json). Nothing is loaded or downloaded except configs. With --index-dir,
    the encoder record is the index's (and lists its retrievers).

    \b
    Examples:
      xenc models
      xenc models --reranker xenc/assets/reranker --format table
      xenc models --index-dir idx
      xenc models --presets
    """
    from xenc.index.store import open_generation
    from xenc.io.jsonl import JsonlWriter
    from xenc.models.info import describe_models
    from xenc.progress import note

    if presets:  # JSON records whatever --format says: their fields are not a model's
        from xenc.models.presets import PRESETS

        writer = JsonlWriter(sys.stdout.buffer, flush=True)
        for preset in PRESETS.values():
            writer.write(preset.record())
        return
    index = None
    if index_dir is not None:
        _, manifest, pinned = open_generation(index_dir)
        pinned.close()
        index = (str(index_dir), manifest)
        if encoder and encoder != os.environ.get(ENV_ENCODER):
            note("Warning: --encoder is ignored with --index-dir: an index is searched with "
                 "the encoder it was built with")
    if fmt not in ("auto", "table", "json"):
        raise UsageError(f"--format must be auto, table or json, not {fmt!r}")
    records = describe_models(encoder, reranker, index)
    if fmt == "table" or (fmt == "auto" and sys.stdout.isatty()):
        from xenc.io.output import models_table

        sys.stdout.write(models_table(records))
        sys.stdout.flush()
        return
    writer = JsonlWriter(sys.stdout.buffer, flush=True)
    for record in records:
        writer.write(record)
