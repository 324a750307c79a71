"""``xenc train`` and ``xenc mine``: fine-tune a cross-encoder, or write mined training pairs.

Thin wrappers over :mod:`xenc.training`; their commands are merged into :mod:`xenc.cli.app`.
The mining options both share come from :func:`xenc.cli.options.mining_options`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xenc.cli.options import (
    REPLACED,
    REQUIRED,
    Device,
    IndexDir,
    Output,
    Seed,
    ShowProgress,
    handle_errors,
    make_subapp,
    mining_options,
    remote_code_option,
)

if TYPE_CHECKING:
    from xenc.training import MineParams, TrainResult

app = make_subapp()

OptPath = Path | None


@app.command("mine")
@handle_errors
@remote_code_option
@mining_options
def mine_cmd(
    index_dir: IndexDir,
    queries: Annotated[Path, typer.Option("--queries", help="JSONL queries.")],
    qrels: Annotated[Path, typer.Option("--qrels", help="TREC or BEIR TSV judgments.")],
    mine: MineParams = REPLACED,  # the mining options (mining_options)
    seed: Seed = 42,
    output: Output = None,
) -> None:
    """Mine training pairs: qrels positives plus first-stage hard and random negatives.

    Each line: query, document (the best passage), label (1/0), qid, doc_id, kind
    (positive, hard or random) and first_stage_rank; with --teacher also teacher_score.
    `xenc train FILE` reads it back (--loss margin-mse or mse learn the teacher's scores).

    \b
    Examples:
      xenc mine --index-dir idx --queries data/sample/queries.jsonl \\
          --qrels data/sample/qrels.tsv -o pairs.jsonl
      xenc mine --index-dir idx --queries data/sample/queries.jsonl \\
          --qrels data/sample/qrels.tsv --teacher '0.5*dense+0.5*bm25' -o distill.jsonl
    """
    from xenc.io.files import atomic_output
    from xenc.io.jsonl import JsonlWriter
    from xenc.progress import note
    from xenc.training.sources import mined_rows

    with atomic_output(output) as stream:
        writer = JsonlWriter(stream, flush=output is None)
        for record in mined_rows(index_dir, queries, qrels, mine):
            writer.write(record)
    note(f"mined {writer.count} pairs")


@app.command("train")
@handle_errors
@remote_code_option
@mining_options
def train_cmd(
    pairs: Annotated[Path | None, typer.Argument(help="Labeled pairs JSONL.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory.")] = REQUIRED,
    index_dir: Annotated[Path | None, typer.Option(help="Mine pairs from this index.")] = None,
    queries: Annotated[OptPath, typer.Option(help="JSONL queries (with --index-dir).")] = None,
    qrels: Annotated[OptPath, typer.Option(help="TREC or BEIR TSV judgments.")] = None,
    task: Annotated[str, typer.Option(help="relevance, similarity or nli.")] = "relevance",
    loss: Annotated[str | None, typer.Option(
        help="relevance: bce, listwise, margin-mse, listwise-kd or mse (the last three distil "
        "teacher_score)."
    )] = None,
    temperature: Annotated[float, typer.Option(
        help="listwise-kd: the teacher's scores are divided by this before the softmax.")
    ] = 1.0,
    base: Annotated[str | None, typer.Option(help="Encoder or cross-encoder to tune.")] = None,
    layers: Annotated[int | None, typer.Option(help="Keep the first N layers.")] = None,
    labels: Annotated[str | None, typer.Option(help="nli label names, comma-separated.")] = None,
    label_max: Annotated[float | None, typer.Option(help="Label scale (default: max).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training pairs.")] = 1,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Pairs per optimizer step (listwise and margin-mse: groups).")] = 16,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 2e-5,
    warmup: Annotated[float, typer.Option(help="Warmup fraction of the steps.")] = 0.1,
    max_length: Annotated[int, typer.Option(
        min=8, help="Tokens per pair, query and passage together; the passage is cut first.")
    ] = 256,
    seed: Seed = 42,
    device: Device = None,
    dev: Annotated[Path | None, typer.Option("--dev", help="Dev pairs JSONL.")] = None,
    dev_fraction: Annotated[float | None, typer.Option(help="Hold out queries.")] = None,
    dev_queries: Annotated[OptPath, typer.Option(help="Dev queries to mine.")] = None,
    dev_qrels: Annotated[OptPath, typer.Option(help="Dev judgments.")] = None,
    eval_steps: Annotated[int | None, typer.Option(help="Evaluate every N steps.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop (resumably) after N.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a run.")] = False,
    keep_checkpoints: Annotated[bool, typer.Option(
        "--keep-checkpoints", help="Keep checkpoint/ (weights + optimizer) after the run.")
    ] = False,
    mine: MineParams = REPLACED,  # the mining options (mining_options)
    progress: ShowProgress = None,
) -> None:
    """Fine-tune a cross-encoder on labeled pairs or on pairs mined from an index.

    Prints the dev metric and, for mined pairs, the first stage's on the same dev queries;
    warns when the model is no better than that, when nothing was measured (no dev set) or
    when the data is too small to learn from. checkpoint/ is removed at the end of a run
    unless --keep-checkpoints (a run stopped by --max-steps keeps it, for --resume).

    \b
    Examples:
      xenc train pairs.jsonl -o my-reranker --base xenc/assets/reranker --dev-fraction 0.2
      xenc train --index-dir idx --queries data/sample/queries.jsonl \\
          --qrels data/sample/qrels.tsv -o my-reranker-2 --base xenc/assets/reranker
    """
    from xenc.progress import bar, note, wants_progress
    from xenc.training import TrainConfig, train

    names = tuple(x.strip() for x in labels.split(",") if x.strip()) if labels else None
    config = TrainConfig(
        output=output, train_file=pairs, index_dir=index_dir, queries=queries, qrels=qrels,
        dev_file=dev, dev_fraction=dev_fraction, dev_queries=dev_queries, dev_qrels=dev_qrels,
        base=base, layers=layers, task=task, loss=loss, temperature=temperature,
        label_max=label_max, labels=names,
        epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup, max_length=max_length,
        seed=seed, device=device, eval_steps=eval_steps, max_steps=max_steps, resume=resume,
        mine=mine, command=shlex.join(["xenc", *sys.argv[1:]]),
        keep_checkpoints=keep_checkpoints,
    )
    with bar("training", None, wants_progress(progress)) as callback:
        result = train(config, progress=callback)
    note(summary_line(result))
    if result.checkpoint is not None:
        note(f"checkpoint kept in {result.checkpoint} (weights and optimizer state, for "
             "--resume)")
    for warning in result.warnings:
        note(f"Warning: {warning}")


def summary_line(result: TrainResult) -> str:
    """``trained N steps on P pairs → DIR (dev ndcg@10 X at step S; first stage Y)``."""
    best = result.best or {}
    line = f"trained {result.steps} steps on {result.train_pairs} pairs → {result.output}"
    if best.get("metric") is None:
        return line + " (no dev set: nothing measured)"
    line += f" (dev {result.metric} {best['metric']:.4f} at step {best['step']}"
    if result.first_stage is not None:
        line += f"; first stage {result.first_stage:.4f} on the same dev queries"
    return line + ")"
