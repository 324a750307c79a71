"""Converters from published sentence-pair datasets into xenc's pair JSONL (one file a split).

Each output line has ``sentence1``, ``sentence2`` and ``label`` (what ``xenc score`` reads and
``xenc train`` learns from), plus the dataset's own id:

* ``stsb`` — STS Benchmark ``sts-{train,dev,test}.csv`` (tab-separated; genre, file, year,
  id, score, sentence1, sentence2, sometimes extra columns): ``label`` = similarity 0–5.
* ``sick`` — SICK ``SICK.txt`` (TSV with header; ``SemEval_set`` TRAIN/TRIAL/TEST → train,
  dev, test): ``label`` = the NLI label in lower case, ``relatedness`` = the 1–5 score.
* ``mrpc`` — MSR Paraphrase ``msr_paraphrase_{train,test}.txt``: ``label`` = 1 paraphrase, 0 not.
* ``wikiqa`` — ``WikiQA-train.txt`` / ``WikiQA-test.tsv`` (question, sentence, 0/1):
  ``query``/``document``/``label``, with ``qid`` grouping the sentences of one question.

Output files are written complete or not at all (temporary file, then rename).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xenc.errors import InputError, UsageError
from xenc.io.files import text_lines, umask_mode
from xenc.io.jsonl import dumps

PAIR_FORMATS = ("stsb", "sick", "mrpc", "wikiqa")
_SICK_SPLITS = {"TRAIN": "train", "TRIAL": "dev", "TEST": "test"}


@dataclass
class PairSummary:
    """What :func:`convert_pairs` wrote: pairs per split file."""

    name: str
    fmt: str
    out_dir: Path
    splits: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        counts = ", ".join(f"{split}.jsonl {n} pairs" for split, n in self.splits.items())
        return f"{self.name} ({self.fmt}) → {self.out_dir}: {counts}"


def _columns(path: Path, line: int, row: list[str], at_least: int) -> list[str]:
    if len(row) < at_least:
        raise InputError(str(path), line, f"expected at least {at_least} tab-separated columns, "
                         f"got {len(row)}")
    return row


def _float(path: Path, line: int, value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(str(path), line, f"{what} {value!r} is not a number") from None


def read_stsb(path: Path) -> Iterator[dict[str, Any]]:
    for line, text in text_lines(path, blank=True):
        if not text.strip():
            continue
        row = _columns(path, line, text.split("\t"), 7)
        yield {"id": f"{row[0]}/{row[1]}/{row[2]}/{row[3]}", "sentence1": row[5],
               "sentence2": row[6], "label": _float(path, line, row[4], "score")}


def read_sick(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    header: list[str] | None = None
    for line, text in text_lines(path, blank=True):
        if not text.strip():
            continue
        row = text.split("\t")
        if header is None:
            header = row
            needed = {"pair_ID", "sentence_A", "sentence_B", "entailment_label",
                      "relatedness_score", "SemEval_set"}
            if not needed <= set(header):
                raise InputError(str(path), line, f"header lacks {sorted(needed - set(header))}")
            continue
        rec = dict(zip(header, _columns(path, line, row, len(header)), strict=False))
        split = _SICK_SPLITS.get(rec["SemEval_set"].strip())
        if split is None:
            raise InputError(str(path), line, f"unknown SemEval_set {rec['SemEval_set']!r}")
        yield split, {"id": rec["pair_ID"], "sentence1": rec["sentence_A"],
                      "sentence2": rec["sentence_B"], "label": rec["entailment_label"].lower(),
                      "relatedness": _float(path, line, rec["relatedness_score"], "score")}


def read_mrpc(path: Path) -> Iterator[dict[str, Any]]:
    # The sentences hold stray quotes: split on tabs, never parse as CSV.
    for line, text in text_lines(path, blank=True):
        if line == 1 or not text.strip():
            continue
        row = _columns(path, line, text.split("\t"), 5)
        if row[0] not in ("0", "1"):
            raise InputError(str(path), line, f"quality {row[0]!r} is not 0 or 1")
        yield {"id": f"{row[1]}-{row[2]}", "sentence1": row[3], "sentence2": row[4],
               "label": int(row[0])}


def read_wikiqa(path: Path) -> Iterator[dict[str, Any]]:
    """Both published layouts: 3 columns (question, sentence, label) or the 7-column TSV with
    a header (QuestionID, Question, DocumentID, DocumentTitle, SentenceID, Sentence, Label)."""
    header: list[str] | None = None
    for line, text in text_lines(path, blank=True):
        if not text.strip():
            continue
        row = text.split("\t")
        if line == 1 and "Label" in row and "Question" in row:
            header = row
            continue
        if header:
            rec = dict(zip(header, _columns(path, line, row, len(header)), strict=False))
            qid, query, doc, label = rec.get("QuestionID"), rec["Question"], rec["Sentence"], \
                rec["Label"].strip()
        else:
            query, doc, label = _columns(path, line, row, 3)[:3]
            qid, label = None, label.strip()
        if label not in ("0", "1"):
            raise InputError(str(path), line, f"label {label!r} is not 0 or 1")
        yield {"qid": qid or query, "query": query, "document": doc, "label": int(label)}


def _split_files(src: Path, fmt: str) -> list[tuple[str, Path, Callable]]:
    named = {
        "stsb": [(s, src / f"sts-{s}.csv", read_stsb) for s in ("train", "dev", "test")],
        "mrpc": [(s, src / f"msr_paraphrase_{s}.txt", read_mrpc) for s in ("train", "test")],
        "wikiqa": [("train", src / "WikiQA-train.txt", read_wikiqa),
                   ("test", src / "WikiQA-test.tsv", read_wikiqa),
                   ("dev", src / "WikiQA-dev.tsv", read_wikiqa)],
    }[fmt]
    found = [entry for entry in named if entry[1].is_file()]
    if not found:
        names = ", ".join(p.name for _, p, _ in named)
        raise InputError(str(src), None, f"no {fmt} files ({names})")
    return found


def detect_pair_format(src: str | os.PathLike[str]) -> str | None:
    """The pair format of a folder, from its file names; ``None`` if it is not one."""
    root = Path(src)
    for fmt, marker in (("stsb", "sts-train.csv"), ("stsb", "sts-dev.csv"), ("sick", "SICK.txt"),
                        ("mrpc", "msr_paraphrase_train.txt"), ("wikiqa", "WikiQA-train.txt")):
        if (root / marker).is_file():
            return fmt
    return None


def convert_pairs(
    src: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, fmt: str = "auto"
) -> PairSummary:
    """Write ``<split>.jsonl`` pair files for a sentence-pair dataset folder.

    Raises:
        UsageError: Unknown format, or detection failed.
        InputError: A missing file or a bad line (``file:line``); no output file changes then.
    """
    root = Path(src)
    if not root.is_dir():
        raise InputError(str(root), None, "no such folder")
    if fmt == "auto":
        fmt = detect_pair_format(root) or ""
        if not fmt:
            raise UsageError(f"{root}: not a pair dataset (looked for sts-train.csv, SICK.txt, "
                             "msr_paraphrase_train.txt, WikiQA-train.txt)")
    if fmt not in PAIR_FORMATS:
        raise UsageError(f"unknown pair format {fmt!r}: use {', '.join(PAIR_FORMATS)}")
    rows: dict[str, list[dict[str, Any]]] = {}
    if fmt == "sick":
        for split, rec in read_sick(root / "SICK.txt"):
            rows.setdefault(split, []).append(rec)
    else:
        for split, path, reader in _split_files(root, fmt):
            rows[split] = list(reader(path))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = PairSummary(root.name, fmt, out)
    for split, records in rows.items():
        fd, tmp = tempfile.mkstemp(prefix=f".{split}.", suffix=".tmp", dir=out)
        try:
            os.fchmod(fd, umask_mode())  # not mkstemp's 0600
            with os.fdopen(fd, "wb") as fh:
                fh.writelines(dumps(r) for r in records)
            os.replace(tmp, out / f"{split}.jsonl")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        summary.splits[split] = len(records)
    return summary


def convert_dataset(
    src: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, fmt: str = "auto",
    split: str = "test",
) -> Any:
    """``xenc convert``: a pair dataset → pair files, else a test collection →
    corpus/queries/qrels (:func:`xenc.datasets.convert.convert`)."""
    from xenc.datasets.convert import convert

    if fmt in PAIR_FORMATS or (fmt == "auto" and detect_pair_format(src)):
        return convert_pairs(src, out_dir, fmt=fmt)
    return convert(src, out_dir, fmt=fmt, split=split)
