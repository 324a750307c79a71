"""Fine-tuning cross-encoders: ``xenc train`` and ``xenc mine`` as a library.

::

    from xenc.training import TrainConfig, train

    result = train(TrainConfig(output=Path("my-reranker"), train_file=Path("pairs.jsonl")))

Importing this package is cheap: torch and transformers load when training starts.
"""

from __future__ import annotations

from xenc.training.config import TrainConfig, TrainResult
from xenc.training.data import Pair, read_labeled_pairs
from xenc.training.mining import MineParams, mine
from xenc.training.trainer import train

__all__ = ["MineParams", "Pair", "TrainConfig", "TrainResult", "mine", "read_labeled_pairs",
           "train"]
