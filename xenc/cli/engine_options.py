"""``--engine``, ``--num-workers`` and ``--gpus-per-worker``: where ``index`` and ``score`` run
their model (in this process, or on Ray actors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from xenc.cli.options import _param, _replace_param
from xenc.errors import UsageError

Engine = Annotated[str, typer.Option(
    "--engine", help="Where the model runs: local (this process) or ray (RAY_ADDRESS, else a "
    "local Ray; needs xenc[ray]).")]
NumWorkers = Annotated[int, typer.Option(
    "--num-workers", min=1, help="With --engine ray: actors, each holding the model once.")]
GpusPerWorker = Annotated[float, typer.Option(
    "--gpus-per-worker", min=0.0, help="With --engine ray: GPUs per actor (0: one CPU each).")]


def engine_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command ``--engine``, ``--num-workers`` and ``--gpus-per-worker`` in place of
    its ``ray`` parameter: a :class:`xenc.engines.ray_runtime.RayOptions`, or None (local)."""
    block = [_param("engine", Engine, "local"), _param("num_workers", NumWorkers, 1),
             _param("gpus_per_worker", GpusPerWorker, 0.0)]

    def call(kwargs: dict[str, Any]) -> dict[str, Any]:
        engine, workers, gpus = (kwargs.pop(p.name) for p in block)
        if engine not in ("local", "ray"):
            raise UsageError(f"--engine must be local or ray, got {engine!r}")
        if engine == "local":
            if workers != 1 or gpus:
                from xenc.progress import note

                note("Warning: --num-workers and --gpus-per-worker apply to --engine ray only")
            kwargs["ray"] = None
            return kwargs
        from xenc.engines.ray_runtime import RayOptions, require_ray

        require_ray()
        kwargs["ray"] = RayOptions(workers, gpus).check()
        return kwargs

    return _replace_param(fn, "ray", block, call)
