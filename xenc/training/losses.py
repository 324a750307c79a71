"""Losses and batch plans for the three tasks.

* ``relevance`` + ``bce``: pointwise binary cross-entropy on the logit, target = label / max
  label (graded labels become soft targets in [0, 1]).
* ``relevance`` + ``listwise``: softmax cross-entropy over groups of one positive and ``n``
  negatives of the same query (the positive first in each group).
* ``relevance`` + ``margin-mse`` (distillation, Hofstätter et al. 2020): in the same groups,
  mean squared error between the student's margins ``s(pos) - s(neg)`` and the teacher's
  ``t(pos) - t(neg)`` (``teacher_score``); the student's logits learn the teacher's scale.
* ``relevance`` + ``listwise-kd`` (distillation, listwise): in the same groups, the
  Kullback-Leibler divergence from the teacher's softmax over the group
  (``teacher_score / temperature``) to the student's: the student learns the teacher's order
  of all the group's documents, not only each negative's distance to the positive.
* ``relevance`` + ``mse`` (distillation, pointwise): mean squared error between the logit and
  ``teacher_score``.
* ``similarity``: mean squared error between sigmoid(logit) and label / ``label_max``.
* ``nli``: cross-entropy over the label logits.

Batches are planned up front from ``seed`` and the epoch number only, so a resumed run sees
exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from xenc.errors import UsageError
from xenc.io.qrels import is_relevant
from xenc.training.data import Pair

if TYPE_CHECKING:
    import torch

LOSSES = {"relevance": ("bce", "listwise", "margin-mse", "listwise-kd", "mse"),
          "similarity": ("mse",), "nli": ("ce",)}
GROUPED = ("listwise", "margin-mse", "listwise-kd")
DISTILL = ("margin-mse", "listwise-kd", "mse")


def check_loss(task: str, loss: str | None) -> str:
    """The loss to use for ``task`` (its first one by default).

    Raises:
        UsageError: a loss that does not fit the task.
    """
    allowed = LOSSES.get(task)
    if allowed is None:
        raise UsageError(f"--task must be one of {', '.join(LOSSES)}, not {task!r}")
    if loss is None:
        return allowed[0]
    if loss not in allowed:
        raise UsageError(f"--loss {loss} does not fit --task {task}: use {', '.join(allowed)}")
    return loss


def _listwise_groups(
    pairs: Sequence[Pair], negatives: int, rng: np.random.Generator
) -> list[list[int]]:
    """Groups of pair indices: a positive, then ``negatives`` negatives of its query."""
    by_group: dict[str, tuple[list[int], list[int]]] = {}
    for i, p in enumerate(pairs):
        pos, neg = by_group.setdefault(p.group, ([], []))
        (pos if is_relevant(p.label) else neg).append(i)
    groups = []
    for key in sorted(by_group):
        pos, neg = by_group[key]
        if not neg:
            continue
        for i in pos:
            replace = len(neg) < negatives
            picks = rng.choice(len(neg), size=negatives, replace=replace)
            groups.append([i] + [neg[int(j)] for j in picks])
    return groups


def plan_epoch(
    pairs: Sequence[Pair], *, loss: str, batch_size: int, negatives: int, seed: int, epoch: int
) -> list[list[int]]:
    """The batches of one epoch, as lists of pair indices (listwise: whole groups, in order).

    Raises:
        UsageError: listwise training data with no query that has both labels.
    """
    rng = np.random.default_rng([seed, epoch])
    if loss not in GROUPED:
        order = rng.permutation(len(pairs)).tolist()
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if negatives < 1:
        raise UsageError(f"--loss {loss} needs --negatives of at least 1")
    groups = _listwise_groups(pairs, negatives, rng)
    if not groups:
        raise UsageError(f"--loss {loss} needs queries with both positive and negative pairs")
    per_batch = max(1, batch_size // (negatives + 1))
    order = rng.permutation(len(groups)).tolist()
    return [
        [i for g in order[s : s + per_batch] for i in groups[g]]
        for s in range(0, len(order), per_batch)
    ]


def distills(task: str, loss: str | None) -> bool:
    """Whether ``loss`` learns ``teacher_score`` (relevance ``margin-mse``, ``listwise-kd`` or
    ``mse``)."""
    return task == "relevance" and loss in DISTILL


def check_teacher(pairs: Sequence[Pair], task: str, loss: str, role: str) -> None:
    """Distillation losses need ``teacher_score`` on every pair.

    Raises:
        UsageError: a distillation loss and pairs without a teacher score.
    """
    if not distills(task, loss):
        return
    missing = sum(p.teacher is None for p in pairs)
    if missing:
        raise UsageError(
            f"--loss {loss} needs \"teacher_score\" on every pair: {missing} of the {len(pairs)} "
            f"{role} pairs have none (write them with xenc mine --teacher SPEC)"
        )


def targets(
    pairs: Sequence[Pair], task: str, label_max: float, loss: str | None = None
) -> torch.Tensor:
    """The loss targets of a batch: scaled floats, teacher scores, or class ids for nli."""
    import torch

    if distills(task, loss):
        # check_teacher refused pairs without a teacher score before training began
        scores = [float(cast(float, p.teacher)) for p in pairs]
        return torch.tensor(scores, dtype=torch.float32)
    values = [p.label for p in pairs]
    if task == "nli":
        return torch.tensor(values, dtype=torch.long)
    return torch.tensor(values, dtype=torch.float32) / float(label_max)


def compute_loss(
    logits: torch.Tensor, target: torch.Tensor, *, task: str, loss: str, group: int,
    temperature: float = 1.0,
) -> torch.Tensor:
    """The mean loss of one batch (``group`` = pairs per listwise group; ``temperature``
    divides the teacher's scores for ``listwise-kd``)."""
    import torch
    import torch.nn.functional as F

    logits = logits.float()
    if task == "nli":
        return F.cross_entropy(logits, target)
    scores = logits[:, 0]
    if task == "similarity":
        return F.mse_loss(scores.sigmoid(), target)
    if loss == "listwise":
        grouped = scores.view(-1, group)
        first = torch.zeros(grouped.shape[0], dtype=torch.long, device=grouped.device)
        return F.cross_entropy(grouped, first)
    if loss == "margin-mse":
        student, teacher = scores.view(-1, group), target.view(-1, group)
        return F.mse_loss(student[:, :1] - student[:, 1:], teacher[:, :1] - teacher[:, 1:])
    if loss == "listwise-kd":
        student, teacher = scores.view(-1, group), target.view(-1, group)
        return F.kl_div(F.log_softmax(student, dim=1), F.log_softmax(teacher / temperature, dim=1),
                        reduction="batchmean", log_target=True)
    if loss == "mse":
        return F.mse_loss(scores, target)
    return F.binary_cross_entropy_with_logits(scores, target)


def label_max(pairs: Sequence[Pair], task: str, given: float | None) -> float:
    """What labels are divided by: ``given``, else the largest label (at least 1).

    Raises:
        UsageError: ``given`` not positive, or smaller than a label in the data.
    """
    if task == "nli":
        return 1.0
    top = max((p.label for p in pairs), default=1.0)
    if given is None:
        return max(1.0, float(top))
    if given <= 0 or top > given:
        raise UsageError(f"--label-max {given} must be positive and at least the largest label")
    return float(given)


def summary(pairs: Sequence[Pair]) -> dict[str, Any]:
    """Counts for logs and the model card: pairs, queries, label histogram."""
    labels: dict[str, int] = {}
    for p in pairs:
        key = str(int(p.label)) if float(p.label).is_integer() else "other"
        labels[key] = labels.get(key, 0) + 1
    return {"pairs": len(pairs), "queries": len({p.group for p in pairs}), "labels": labels}
