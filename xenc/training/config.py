"""What ``xenc train`` takes and returns: :class:`TrainConfig` and :class:`TrainResult`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from xenc.config import check_number
from xenc.errors import UsageError, param
from xenc.io.files import writable_directory
from xenc.training.data import TASKS
from xenc.training.mining import MineParams


def _path(value: Path | None) -> Path | None:
    """``value`` as a :class:`Path` (a str is accepted from Python), unset ones as they are."""
    return Path(value) if value else value


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``xenc train`` takes. Paths are files unless named ``*_dir``.

    Data is either ``train_file`` (labeled pairs JSONL) or ``index_dir`` + ``queries`` +
    ``qrels`` (pairs mined with ``mine``). Dev data: ``dev_file``, ``dev_fraction`` (of the
    training queries) or ``dev_queries`` + ``dev_qrels`` (mined).
    """

    output: Path
    train_file: Path | None = None
    index_dir: Path | None = None
    queries: Path | None = None
    qrels: Path | None = None
    dev_file: Path | None = None
    dev_fraction: float | None = None
    dev_queries: Path | None = None
    dev_qrels: Path | None = None
    base: str | None = None
    layers: int | None = None
    task: str = "relevance"
    loss: str | None = None
    temperature: float = 1.0
    label_max: float | None = None
    labels: tuple[str, ...] | None = None
    epochs: int = 1
    batch_size: int = 16
    lr: float = 2e-5
    warmup: float = 0.1
    max_length: int = 256
    seed: int = 42
    device: str | None = None
    eval_steps: int | None = None
    max_steps: int | None = None
    resume: bool = False
    mine: MineParams = field(default_factory=MineParams)
    command: str | None = None
    keep_checkpoints: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise UsageError(f"{param('task')} must be one of {', '.join(TASKS)}, "
                             f"not {self.task!r}")
        for name in ("epochs", "batch_size", "eval_steps", "max_steps", "max_length", "layers"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), minimum=1, integer=True)
        check_number("seed", self.seed, minimum=0, integer=True)
        check_number("lr", self.lr, above=0)
        check_number("warmup", self.warmup, minimum=0)
        check_number("temperature", self.temperature, above=0)
        if self.warmup >= 1:
            raise UsageError(f"{param('warmup')} must be a fraction in [0, 1), "
                             f"not {self.warmup!r}")
        if self.dev_fraction is not None:
            check_number("dev_fraction", self.dev_fraction, above=0)
            if self.dev_fraction >= 1:
                raise UsageError(f"{param('dev_fraction')} must be a fraction in (0, 1), "
                                 f"not {self.dev_fraction!r}")
        if self.label_max is not None:
            check_number("label_max", self.label_max, above=0)

    def check(self) -> TrainConfig:
        """A copy with paths as :class:`Path`, or an error when ``output`` cannot be written
        (the values themselves are checked when the config is made)."""
        output = Path(self.output)
        writable_directory(output.parent)  # fail now, not after hours of training
        return replace(
            self, output=output, train_file=_path(self.train_file),
            index_dir=_path(self.index_dir), queries=_path(self.queries),
            qrels=_path(self.qrels), dev_file=_path(self.dev_file),
            dev_queries=_path(self.dev_queries), dev_qrels=_path(self.dev_qrels),
        )

    def params(self) -> dict[str, Any]:
        """Every parameter as JSON-ready values (for the card and resume checks)."""
        return json.loads(json.dumps(asdict(self), default=str))


@dataclass
class TrainResult:
    """What a training run did: where the model is, steps, dev metrics, per-step losses.

    ``first_stage`` is the first stage's dev metric on the same dev pairs (``None`` where the
    pairs carry no first-stage ranks), ``warnings`` what :mod:`xenc.training.verdict` found
    wrong with the run, ``checkpoint`` the directory kept for ``resume`` (else ``None``).
    """

    output: Path
    steps: int
    metric: str
    best: dict[str, Any] | None
    evals: list[dict[str, Any]]
    losses: list[float]
    train_pairs: int
    dev_pairs: int
    first_stage: float | None = None
    warnings: list[str] = field(default_factory=list)
    checkpoint: Path | None = None
