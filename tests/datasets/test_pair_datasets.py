"""Sentence-pair dataset converters (xenc.datasets.pairs) and `xenc convert` on them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from test_datasets import real_folder, write
from typer.testing import CliRunner

from xenc.cli.app import app
from xenc.datasets.pairs import convert_pairs, detect_pair_format
from xenc.errors import InputError, UsageError


def rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


STS = (
    "main-captions\tMSRvid\t2012test\t0001\t5.000\tA man plays.\tA man is playing.\n"
    "main-news\theadlines\t2013\t0002\t0.5\tStocks fell.\tIt rained.\textra\tcolumns\n"
)
SICK = (
    "pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tSemEval_set\n"
    "1\tA dog runs\tA dog is running\tENTAILMENT\t4.9\tTRAIN\n"
    "2\tA cat sleeps\tNo cat sleeps\tCONTRADICTION\t3.1\tTRIAL\n"
    "3\tA man cooks\tA woman sings\tNEUTRAL\t1.2\tTEST\n"
)
WIKIQA_7 = (
    "QuestionID\tQuestion\tDocumentID\tDocumentTitle\tSentenceID\tSentence\tLabel\n"
    "Q0\twhat is a cave\tD0\tCave\tD0-0\tA cave is a hollow.\t1\n"
)


def test_stsb_and_extra_columns(tmp_path):
    src = tmp_path / "sts"
    write(src, "sts-train.csv", STS)
    write(src, "sts-dev.csv", STS.splitlines(keepends=True)[0])
    assert detect_pair_format(src) == "stsb"
    summary = convert_pairs(src, tmp_path / "out")
    assert summary.splits == {"train": 2, "dev": 1}
    train = rows(tmp_path / "out" / "train.jsonl")
    assert train[1] == {"id": "main-news/headlines/2013/0002", "sentence1": "Stocks fell.",
                        "sentence2": "It rained.", "label": 0.5}


def test_sick_splits_and_labels(tmp_path):
    src = tmp_path / "sick"
    write(src, "SICK.txt", SICK)
    summary = convert_pairs(src, tmp_path / "out")
    assert summary.splits == {"train": 1, "dev": 1, "test": 1}
    assert rows(tmp_path / "out" / "dev.jsonl") == [{
        "id": "2", "sentence1": "A cat sleeps", "sentence2": "No cat sleeps",
        "label": "contradiction", "relatedness": 3.1}]


def test_wikiqa_both_layouts_and_mrpc(tmp_path):
    src = tmp_path / "wikiqa"
    write(src, "WikiQA-train.txt", "how are caves formed ?\tIce melts .\t0\n")
    write(src, "WikiQA-test.tsv", WIKIQA_7)
    convert_pairs(src, tmp_path / "out")
    assert rows(tmp_path / "out" / "train.jsonl") == [
        {"qid": "how are caves formed ?", "query": "how are caves formed ?",
         "document": "Ice melts .", "label": 0}]
    assert rows(tmp_path / "out" / "test.jsonl")[0]["qid"] == "Q0"
    mrpc = tmp_path / "mrpc"
    write(mrpc, "msr_paraphrase_train.txt",
          "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t7\t8\tHe said \"yes\t.\tHe agreed.\n")
    convert_pairs(mrpc, tmp_path / "m")
    assert rows(tmp_path / "m" / "train.jsonl") == [
        {"id": "7-8", "sentence1": 'He said "yes', "sentence2": ".", "label": 1}]


def test_bad_lines_name_file_and_line_and_write_nothing(tmp_path):
    src = tmp_path / "sick"
    write(src, "SICK.txt", SICK + "4\tA\tB\tNEUTRAL\tlots\tTRAIN\n")
    with pytest.raises(InputError, match=r"SICK.txt:5: score 'lots' is not a number"):
        convert_pairs(src, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    with pytest.raises(UsageError, match="not a pair dataset"):
        convert_pairs(tmp_path, tmp_path / "x")


def test_convert_cli_routes_pair_datasets(tmp_path):
    src = tmp_path / "sick"
    write(src, "SICK.txt", SICK)
    result = CliRunner().invoke(app, ["convert", str(src), str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert "train.jsonl 1 pairs, dev.jsonl 1 pairs, test.jsonl 1 pairs" in result.stderr
    bad = CliRunner().invoke(app, ["convert", str(src), str(tmp_path / "o"), "--format", "stsb"])
    assert bad.exit_code == 1 and "no stsb files" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("name", "splits"), [
    ("stsbenchmark", {"train": 5749, "dev": 1500}),
    ("sick", {"train": 4439, "dev": 495, "test": 4906}),
    ("mrpc", {"train": 4076, "test": 1725}),
    ("wikiqa", {"train": 20360, "test": 6165}),
])
def test_real_pair_datasets(tmp_path, name, splits):
    summary = convert_pairs(real_folder(name), tmp_path / "out")
    assert summary.splits == splits
