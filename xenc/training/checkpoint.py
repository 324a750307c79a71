"""Writing the output directory atomically, and resumable state without pickle.

The output directory is always complete: each save builds a new one beside it and renames it
into place. It holds the best model so far (a normal Hugging Face directory), ``README.md``,
``training_state.json`` and, while the run is under way, ``checkpoint/`` with the latest weights
and the AdamW state, which is stored as safetensors (tensors) plus JSON (scalars); nothing is
ever pickled. A finished run removes ``checkpoint/`` unless asked to keep it
(:func:`remove_checkpoint`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xenc.errors import UsageError
from xenc.io.files import umask_mode

STATE_FILE = "training_state.json"
CHECKPOINT_DIR = "checkpoint"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"


def check_output(output: Path, resume: bool) -> dict[str, Any] | None:
    """The saved state when resuming (else ``None``), after checking the output directory.

    Raises:
        UsageError: resuming with nothing saved, or an output directory that is not empty
            and was not written by ``xenc train``.
    """
    state_path = output / STATE_FILE
    if resume:
        if not state_path.is_file() or not (output / CHECKPOINT_DIR / WEIGHTS).is_file():
            raise UsageError(f"--resume: {output} holds no xenc training checkpoint")
        return json.loads(state_path.read_text(encoding="utf-8"))
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not state_path.is_file():
        raise UsageError(
            f"--output {output} exists, is not empty and is not an xenc training output; "
            "refusing to replace it"
        )
    return None


@contextlib.contextmanager
def staging(output: Path) -> Iterator[Path]:
    """A temporary directory beside ``output``, removed unless :func:`publish` moved it."""
    parent = output.parent if str(output.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=parent))
    tmp.chmod(umask_mode(0o777))  # the model directory it becomes: not mkdtemp's 0700
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def publish(staged: Path, output: Path) -> None:
    """Replace ``output`` by ``staged`` (renames only; the old directory is then removed)."""
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{os.getpid()}"
        os.replace(output, old)
    os.replace(staged, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_checkpoint(output: Path) -> None:
    """Remove ``output/checkpoint`` (about twice the model's size): renamed aside first, so
    the model directory never holds a half-removed checkpoint, then deleted."""
    inner = output / CHECKPOINT_DIR
    if not inner.is_dir():
        return
    aside = output / f".{CHECKPOINT_DIR}.old-{os.getpid()}"
    os.replace(inner, aside)
    shutil.rmtree(aside, ignore_errors=True)


def save_optimizer(optimizer: Any, directory: Path) -> None:
    """Write an optimizer's state: tensors to safetensors, everything else to JSON."""
    from safetensors.torch import save_file

    state = optimizer.state_dict()
    tensors: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            name = f"{pid}.{key}"
            if hasattr(value, "detach"):
                tensors[name] = value.detach().to("cpu").contiguous()
            else:
                scalars[name] = value
    save_file(tensors, str(directory / OPTIMIZER))
    meta = {"scalars": scalars, "param_groups": state["param_groups"]}
    (directory / OPTIMIZER_JSON).write_text(json.dumps(meta), encoding="utf-8")


def load_optimizer(optimizer: Any, directory: Path) -> None:
    """Restore what :func:`save_optimizer` wrote into a freshly built optimizer."""
    from safetensors.torch import load_file

    tensors = load_file(str(directory / OPTIMIZER))
    meta = json.loads((directory / OPTIMIZER_JSON).read_text(encoding="utf-8"))
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_weights(model: Any, path: Path) -> None:
    """The model's current weights as safetensors (shared tensors handled)."""
    from safetensors.torch import save_model

    save_model(model, str(path))


def load_weights(model: Any, path: Path) -> None:
    """Load weights written by :func:`save_weights` into ``model`` (strict)."""
    from safetensors.torch import load_model

    load_model(model, str(path), strict=True)


def write_state(directory: Path, state: dict[str, Any]) -> None:
    """``training_state.json``: step, evaluations, best, and what resuming must match."""
    text = json.dumps(state, indent=2, sort_keys=True) + "\n"
    (directory / STATE_FILE).write_text(text, encoding="utf-8")
