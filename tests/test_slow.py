"""Real models and real data: the bundled all-MiniLM-L6-v2 end to end (run with -m slow)."""

from __future__ import annotations

import orjson
import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.cli.app import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    target = tmp_path_factory.mktemp("real") / "index"
    result = CliRunner().invoke(app, ["index", str(SAMPLE / "corpus.jsonl"), "--index-dir",
                                      str(target)])
    assert result.exit_code == 0, result.stderr
    return target


def test_manifest_names_the_bundled_encoder(real_index):
    manifest = orjson.loads((real_index / "manifest.json").read_bytes())
    assert manifest["encoder"]["name"] == "all-MiniLM-L6-v2"
    assert manifest["encoder"]["source"] == "bundled"
    assert manifest["encoder"]["dim"] == 384


def test_every_retriever_works_with_the_real_encoder(real_index):
    """With the real encoder every retriever reaches a sensible quality on the sample."""
    runner = CliRunner()
    reports = {}
    for retriever in ("bm25", "dense", "hybrid"):
        result = runner.invoke(app, [
            "eval", "--index-dir", str(real_index), "--queries", str(SAMPLE / "queries.jsonl"),
            "--qrels", str(SAMPLE / "qrels.tsv"), "--retriever", retriever, "--no-rerank"])
        assert result.exit_code == 0, result.stderr
        reports[retriever] = orjson.loads(result.stdout)["first_stage"]
    assert reports["dense"]["ndcg@10"] > 0.6
    assert reports["bm25"]["ndcg@10"] > 0.6
    assert reports["hybrid"]["ndcg@10"] > 0.6


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    import re

    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"## Python\n\n```python\n(.*?)```", readme, flags=re.S)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(ROOT / "data")
    exec(compile(block, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    ids = {orjson.loads(line)["id"] for line in (ROOT / "data/sample/corpus.jsonl").open("rb")}
    assert [line.split()[0] for line in lines] == ["1", "2", "3"]
    assert all(line.split()[1] in ids for line in lines)
