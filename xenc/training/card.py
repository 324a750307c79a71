"""The model card (``README.md``) written with every trained model.

It records what is needed to trust and reproduce the model: the data files with their sha256
and counts, every training parameter, the dev metric at each evaluation, the command line,
the xenc version and the date.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from xenc import __version__


def _data_lines(provenance: list[dict[str, Any]]) -> list[str]:
    lines = ["| role | file | sha256 | pairs | details |", "|---|---|---|---|---|"]
    for item in provenance:
        extra = {k: v for k, v in item.items() if k not in ("role", "path", "sha256", "pairs")}
        details = json.dumps(extra, sort_keys=True) if extra else ""
        lines.append(
            f"| {item['role']} | {item.get('path') or '-'} | {item.get('sha256') or '-'} "
            f"| {item.get('pairs') if item.get('pairs') is not None else '-'} | {details} |"
        )
    return lines


def _eval_lines(evals: list[dict[str, Any]], metric: str) -> list[str]:
    if not evals:
        return ["No dev set: the final weights are the last step's."]
    lines = [f"| step | epoch | train loss | dev {metric} |", "|---|---|---|---|"]
    for e in evals:
        value = "-" if e.get("metric") is None else f"{e['metric']:.4f}"
        lines.append(f"| {e['step']} | {e['epoch']} | {e['loss']:.4f} | {value} |")
    return lines


def render(info: dict[str, Any]) -> str:
    """The card's Markdown from the training summary ``info``.

    ``info`` holds ``task``, ``base``, ``params``, ``provenance``, ``counts``, ``evals``,
    ``metric``, ``best``, ``command`` and, when known, ``first_stage``.
    """
    best = info.get("best") or {}
    lines = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: text-ranking" if info["task"] == "relevance" else "tags: [cross-encoder]",
        "---",
        "",
        f"# Cross-encoder ({info['task']}) trained with xenc",
        "",
        f"Base model: `{info['base']}`. Trained with xenc {__version__} on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "Use it with `xenc search --reranker DIR`, `xenc score --reranker DIR`, or "
        "`sentence_transformers.CrossEncoder(DIR)`.",
        "",
        "## Reproduce",
        "",
        "```sh",
        info.get("command") or "(called from Python: see the parameters below)",
        "```",
        "",
        "## Data",
        "",
        *_data_lines(info["provenance"]),
        "",
        f"Training pairs: {json.dumps(info['counts']['train'], sort_keys=True)}; "
        f"dev pairs: {json.dumps(info['counts']['dev'], sort_keys=True)}.",
        "",
        "## Parameters",
        "",
        "```json",
        json.dumps(info["params"], indent=2, sort_keys=True, default=str),
        "```",
        "",
        "## Dev evaluation",
        "",
        *_eval_lines(info["evals"], info["metric"]),
        "",
    ]
    if best.get("metric") is not None:
        lines += [f"Kept: step {best['step']}, dev {info['metric']} {best['metric']:.4f}.", ""]
    if info.get("first_stage") is not None:
        lines += [f"The first stage alone, on the same dev pairs: {info['metric']} "
                  f"{info['first_stage']:.4f}.", ""]
    return "\n".join(lines)
