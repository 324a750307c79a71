"""The training loop: AdamW with linear warmup and decay, dev evaluation, best checkpoint.

Everything random is derived from ``seed``: the head's initialisation, the batch plan of each
epoch (:func:`xenc.training.losses.plan_epoch`) and dropout (torch is reseeded from the seed
and the step number before each step). A run stopped by ``max_steps`` and continued with
``resume`` therefore ends with the same weights as an uninterrupted run (on the same device).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xenc.errors import UsageError
from xenc.models.resolve import DEFAULT_RERANKER
from xenc.progress import set_total
from xenc.training import checkpoint as ckpt
from xenc.training.card import render
from xenc.training.config import TrainConfig, TrainResult
from xenc.training.dev import METRICS, dev_metric, first_stage_metric
from xenc.training.losses import (
    check_loss,
    check_teacher,
    compute_loss,
    label_max,
    plan_epoch,
    summary,
    targets,
)
from xenc.training.model import check_max_length, encode, load_base, predict, save_model_dir
from xenc.training.sources import Data, load_data
from xenc.training.verdict import warnings_for

log = logging.getLogger("xenc")
_NOT_RESUME_KEYS = ("resume", "max_steps", "device", "eval_steps", "command", "output",
                    "keep_checkpoints")


@dataclass
class _Run:
    """Mutable state of a run (what ``training_state.json`` records)."""

    step: int = 0
    evals: list[dict[str, Any]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_state: dict[str, Any] | None = None
    since_eval: list[float] = field(default_factory=list)


@dataclass
class _Ctx:
    config: TrainConfig
    loss: str
    data: Data
    model: Any
    tokenizer: Any
    optimizer: Any
    device: Any
    amp: Callable[[], Any]
    label_max: float
    total: int
    base: str
    first_stage: float | None = None


def _amp(device: Any) -> Callable[[], Any]:
    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def _lr_factor(step: int, total: int, warmup: float) -> float:
    warm = int(warmup * total)
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(1, total - warm))


def _train_step(ctx: _Ctx, run: _Run, batch: list[int]) -> None:
    import torch

    cfg = ctx.config
    torch.manual_seed(cfg.seed * 1_000_003 + run.step)
    for group in ctx.optimizer.param_groups:
        group["lr"] = cfg.lr * _lr_factor(run.step, ctx.total, cfg.warmup)
    pairs = [ctx.data.train[i] for i in batch]
    ctx.model.train()
    inputs = encode(ctx.tokenizer, pairs, cfg.max_length, ctx.device)
    with ctx.amp():
        logits = ctx.model(**inputs).logits
    target = targets(pairs, cfg.task, ctx.label_max, ctx.loss).to(ctx.device)
    group = cfg.mine.negatives + 1
    loss = compute_loss(logits, target, task=cfg.task, loss=ctx.loss, group=group,
                        temperature=cfg.temperature)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(ctx.model.parameters(), 1.0)
    ctx.optimizer.step()
    ctx.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    run.losses.append(float(loss.detach()))
    run.since_eval.append(run.losses[-1])


def _cpu_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}


def _evaluate(ctx: _Ctx, run: _Run, epoch: int) -> None:
    """Score the dev set, record the evaluation and keep the weights if they are the best."""
    metric = None
    if ctx.data.dev:
        cfg = ctx.config
        logits = predict(ctx.model, ctx.tokenizer, ctx.data.dev, max_length=cfg.max_length,
                         batch_size=max(cfg.batch_size, 32), device=ctx.device, amp=ctx.amp)
        metric = dev_metric(cfg.task, logits, ctx.data.dev)
    loss = sum(run.since_eval) / len(run.since_eval) if run.since_eval else float("nan")
    run.since_eval = []
    entry = {"step": run.step, "epoch": epoch + 1, "loss": loss, "metric": metric}
    run.evals.append(entry)
    name = METRICS[ctx.config.task]
    log.info("step %d: train loss %.4f, dev %s %s", run.step, loss, name, metric)
    if metric is None or run.best is None or metric > run.best["metric"]:
        run.best = {"step": run.step, "metric": metric}
        run.best_state = _cpu_state(ctx.model)


def _state(ctx: _Ctx, run: _Run) -> dict[str, Any]:
    params = ctx.config.params()
    return {
        "step": run.step,
        "total_steps": ctx.total,
        "evals": run.evals,
        "losses": run.losses,
        "best": run.best,
        "metric": METRICS[ctx.config.task],
        "first_stage": ctx.first_stage,
        "resume_key": {
            **{k: v for k, v in params.items() if k not in _NOT_RESUME_KEYS},
            "data": [item.get("sha256") for item in ctx.data.provenance],
        },
        "provenance": ctx.data.provenance,
    }


def _save(ctx: _Ctx, run: _Run) -> None:
    """Publish the output directory: best model, card, state, latest checkpoint."""
    cfg = ctx.config
    info = {
        "task": cfg.task, "base": ctx.base, "params": cfg.params(), "command": cfg.command,
        "provenance": ctx.data.provenance, "evals": run.evals, "best": run.best,
        "metric": METRICS[cfg.task], "first_stage": ctx.first_stage,
        "counts": {"train": summary(ctx.data.train), "dev": summary(ctx.data.dev)},
    }
    state = run.best_state if run.best_state is not None else _cpu_state(ctx.model)
    with ckpt.staging(cfg.output) as tmp:
        save_model_dir(ctx.model, ctx.tokenizer, tmp, state)
        (tmp / "README.md").write_text(render(info), encoding="utf-8")
        inner = tmp / ckpt.CHECKPOINT_DIR
        inner.mkdir()
        ckpt.save_weights(ctx.model, inner / ckpt.WEIGHTS)
        ckpt.save_optimizer(ctx.optimizer, inner)
        ckpt.write_state(tmp, _state(ctx, run))
        ckpt.publish(tmp, cfg.output)


def _restore(ctx: _Ctx, run: _Run, saved: dict[str, Any]) -> None:
    from safetensors.torch import load_file

    current = _state(ctx, run)["resume_key"]
    # a key that an older xenc did not save had its default value then
    defaults = TrainConfig(output=ctx.config.output).params()
    key = saved.get("resume_key", {})
    changed = sorted(k for k in current if key.get(k, defaults.get(k)) != current[k])
    if changed:
        raise UsageError(f"--resume with changed parameters or data: {', '.join(changed)}")
    out = ctx.config.output
    ckpt.load_weights(ctx.model, out / ckpt.CHECKPOINT_DIR / ckpt.WEIGHTS)
    ckpt.load_optimizer(ctx.optimizer, out / ckpt.CHECKPOINT_DIR)
    run.step, run.evals, run.losses = saved["step"], saved["evals"], saved["losses"]
    run.best = saved.get("best")
    run.best_state = load_file(str(out / ckpt.WEIGHTS))
    log.info("resuming at step %d of %d", run.step, ctx.total)


def _setup(config: TrainConfig) -> tuple[_Ctx, dict[str, Any] | None]:
    import torch

    from xenc.models.runtime import select_device

    loss = check_loss(config.task, config.loss)
    saved = ckpt.check_output(Path(config.output), config.resume)
    device = select_device(config.device)
    data = load_data(config)
    check_teacher(data.train, config.task, loss, "training")
    torch.manual_seed(config.seed)
    model, tokenizer, resolved = load_base(config.base, config.task, data.labels, config.layers)
    check_max_length(model, config.max_length)
    model.to(device)
    lmax = label_max(data.train + data.dev, config.task, config.label_max)
    plans = _plans(config, loss, data)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    ctx = _Ctx(config, loss, data, model, tokenizer, optimizer, device, _amp(device), lmax,
               sum(len(p) for p in plans), resolved.name, first_stage_metric(config.task, data.dev))
    if ctx.first_stage is not None:
        log.info("dev %s of the first stage alone: %.4f", METRICS[config.task], ctx.first_stage)
    return ctx, saved


def _plans(config: TrainConfig, loss: str, data: Data) -> list[list[list[int]]]:
    return [
        plan_epoch(data.train, loss=loss, batch_size=config.batch_size,
                   negatives=config.mine.negatives, seed=config.seed, epoch=e)
        for e in range(config.epochs)
    ]


def train(config: TrainConfig, progress: Callable[[int], None] | None = None) -> TrainResult:
    """Fine-tune a cross-encoder; the output directory ends up holding the best model.

    The latest weights and optimizer state (``checkpoint/``) are kept while the run is under
    way and, at its end, only with ``config.keep_checkpoints`` or when ``max_steps`` stopped
    it before its last step (so that ``resume`` can continue it). The result's ``warnings``
    say when the run measured nothing, had too little data, or made a model no better than
    the first stage on the dev pairs (:mod:`xenc.training.verdict`).

    Args:
        config: What to train on and how.
        progress: Called with 1 after each optimizer step.

    Raises:
        UsageError: bad or conflicting options, or ``resume`` with changed parameters.
        InputError: bad training data (``file:line: reason``).
        ModelError: the base model cannot be loaded.
    """
    config = config.check()
    ctx, saved = _setup(config)
    run = _Run()
    if saved is not None:
        _restore(ctx, run, saved)
    last = ctx.total if config.max_steps is None else min(ctx.total, config.max_steps)
    set_total(progress, max(0, last - run.step))
    plans = _plans(config, ctx.loss, ctx.data)
    done = 0
    for epoch, plan in enumerate(plans):
        for batch in plan:
            done += 1
            if done <= run.step:
                continue
            _train_step(ctx, run, batch)
            if progress is not None:
                progress(1)
            every = config.eval_steps
            due = bool(every and run.step % every == 0)
            if due:
                _evaluate(ctx, run, epoch)
                _save(ctx, run)
            if config.max_steps is not None and run.step >= config.max_steps:
                if not due:
                    _save(ctx, run)
                return _result(ctx, run)
        if run.step == done and (not run.evals or run.evals[-1]["step"] != run.step):
            _evaluate(ctx, run, epoch)
            _save(ctx, run)
    return _result(ctx, run)


def _result(ctx: _Ctx, run: _Run) -> TrainResult:
    cfg, data = ctx.config, ctx.data
    checkpoint: Path | None = Path(cfg.output) / ckpt.CHECKPOINT_DIR
    if not cfg.keep_checkpoints and run.step >= ctx.total:  # finished: nothing to resume
        ckpt.remove_checkpoint(Path(cfg.output))
        checkpoint = None
    warnings = warnings_for(
        metric=METRICS[cfg.task], best=run.best, first_stage=ctx.first_stage,
        dev_pairs=len(data.dev), train_pairs=len(data.train), steps=run.step,
        dev_queries=len({p.group for p in data.dev}), from_shipped=ctx.base == DEFAULT_RERANKER,
    )
    return TrainResult(
        output=Path(cfg.output), steps=run.step, metric=METRICS[cfg.task],
        best=run.best, evals=run.evals, losses=run.losses,
        train_pairs=len(data.train), dev_pairs=len(data.dev),
        first_stage=ctx.first_stage, warnings=warnings, checkpoint=checkpoint,
    )
