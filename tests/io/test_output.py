"""Output polish (issue 27, item 8): the table, the sweep plot, `xenc models` on a terminal,
file modes under the umask, and BEIR metadata not nested twice. (The closed pipe's SIGPIPE
status is tested in tests/cli/test_app.py.)"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from conftest import ROOT, parse_jsonl

from xenc.cli.app import app
from xenc.io.output import write_results
from xenc.records import Result


def _result(rank, title="", text=None):
    return Result(qid="1", rank=rank, doc_id=f"d{rank}", score=1.0 / rank, first_stage_rank=rank,
                  first_stage_score=0.0, reranked=True, title=title, text=text)


def test_table_without_titles_has_no_title_column(tmp_path):
    out = tmp_path / "t.txt"
    write_results([_result(1), _result(2)], "table", out)
    assert out.read_text().splitlines() == [
        "QID  RANK  DOC_ID   SCORE  FIRST",
        "1       1  d1      1.0000      1",
        "1       2  d2      0.5000      2",
    ]


def test_table_shows_text_and_cuts_with_an_ellipsis(tmp_path):
    out = tmp_path / "t.txt"
    long_title = "A title that goes on " * 5
    text = "First line\nsecond   line " + "word " * 40
    write_results([_result(1, long_title, text), _result(2, "", "short")], "table", out)
    head, first, second = out.read_text().splitlines()
    assert head.split() == ["QID", "RANK", "DOC_ID", "SCORE", "FIRST", "TITLE", "TEXT"]
    cut_title = " ".join(long_title.split())[:59] + "\u2026"
    cut_text = "First line second line " + ("word " * 40)[:56].rstrip() + "\u2026"
    assert first.endswith(f"{cut_title}  {cut_text}")
    assert len(cut_title) == 60 and len(cut_text) <= 80
    assert second.endswith("short") and "\u2026" not in second


def test_search_table_honours_with_text(runner, sample_index):
    result = runner.invoke(app, ["search", "bird migration", "--index-dir", str(sample_index),
                                 "--no-rerank", "-k", "2", "--format", "table",
                                 "--with-text", "passage"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[-1] == "TEXT" and len(lines) == 3


# The sweep plot, read back from the figure ----------------------------------------------

REPORT = {
    "first_stage": {"ndcg@10": 0.42, "recall@10": 0.5},
    "reranked": {"ndcg@10": 0.61, "recall@10": 0.7},
    "latency_ms": {"rerank": {"p50": 90.0, "p95": 120.0, "mean": 95.0}},
    "queries": 30,
    "params": {"retriever": "hybrid", "candidates": 100, "index": "runs/scifact/index"},
    "reranker": {"name": "/models/my-reranker", "source": "local"},
    "sweep": [{"candidates": k, "ndcg@10": 0.5 + k / 1000, "recall@10": 0.6,
               "latency_ms": {"rerank": {"p50": k * 1.0, "p95": k * 1.5}}} for k in (10, 20, 50)],
}


@pytest.fixture()
def figure():
    pytest.importorskip("matplotlib")
    from matplotlib import pyplot as plt

    from xenc.evaluation.plot import sweep_figure

    fig = sweep_figure(REPORT)
    yield fig
    plt.close(fig)


def test_plot_log_axis_has_plain_labels(figure):
    quality = figure.axes[0]
    figure.canvas.draw()
    assert [t.get_text() for t in quality.get_xticklabels()] == ["10", "20", "50", "100"]
    assert [t.get_text() for t in quality.get_xticklabels(minor=True) if t.get_text()] == []
    assert quality.get_xscale() == "log"


def test_plot_has_baseline_full_depth_and_a_title(figure):
    quality = figure.axes[0]
    lines = {line.get_label(): line for line in quality.get_lines()}
    baseline = lines["NDCG@10 no rerank"]
    assert list(baseline.get_ydata()) == [0.42, 0.42]
    ndcg = lines["NDCG@10"]
    assert list(ndcg.get_xdata()) == [10, 20, 50, 100]  # the full depth, from the eval itself
    assert list(ndcg.get_ydata())[-1] == 0.61
    assert quality.get_title() == "my-reranker over hybrid on scifact (30 queries)"


# xenc models: a table on a terminal, JSON in a pipe ---------------------------------------


def test_models_table_and_json(runner):
    table = runner.invoke(app, ["models", "--format", "table"])
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ROLE", "NAME", "SOURCE", "CHOSEN", "BY", "SIZE", "MB", "DETAILS"]
    assert [line.split()[0] for line in lines[1:]] == ["encoder", "reranker"]
    piped = runner.invoke(app, ["models"])  # CliRunner's stdout is not a terminal
    assert [r["role"] for r in parse_jsonl(piped.stdout)] == ["encoder", "reranker"]
    bad = runner.invoke(app, ["models", "--format", "yaml"])
    assert bad.exit_code == 2 and "--format must be auto, table or json" in bad.stderr


def test_models_on_a_real_terminal_is_a_table():
    import pty

    main, child = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "xenc", "models"], stdout=child,
                              stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              timeout=60, check=False)
        os.close(child)
        child = -1
        out = os.read(main, 65536).decode()
    finally:
        if child != -1:
            os.close(child)
        os.close(main)
    assert done.returncode == 0, done.stderr
    assert out.splitlines()[0].split()[:2] == ["ROLE", "NAME"]


# --output files respect the umask ---------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_output_file_mode_follows_the_umask(runner, sample_index, tmp_path, umask, mode):
    out = tmp_path / "r.jsonl"
    old = os.umask(umask)
    try:
        result = runner.invoke(app, ["search", "bird", "--index-dir", str(sample_index),
                                     "--no-rerank", "-k", "1", "-o", str(out)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_output_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text("old\n")
    out.chmod(0o600)
    write_results([_result(1)], "jsonl", out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_text() != "old\n"


# BEIR metadata ---------------------------------------------------------------------------


def test_beir_metadata_is_not_nested_twice(tmp_path):
    from xenc.datasets.beir import beir_document
    from xenc.io.corpus import document_from_object

    obj = {"_id": "d1", "title": "T", "text": "body", "metadata": {"url": "http://x",
                                                                  "title": "clash", "year": 1}}
    doc = beir_document(obj, ("corpus.jsonl", 1))
    assert doc == {"id": "d1", "title": "T", "text": "body", "url": "http://x", "year": 1,
                   "metadata": {"title": "clash"}}
    flat = beir_document({"_id": "d2", "text": "b", "metadata": {"url": "u"}}, ("c", 2))
    assert document_from_object(flat, ("c", 2)).metadata == {"url": "u"}


def test_table_columns_fit_their_widest_value(tmp_path):
    def result(qid, rank, doc_id, score, title=""):
        return Result(qid=qid, rank=rank, doc_id=doc_id, score=score,
                      first_stage_rank=rank + 10, first_stage_score=0.0, reranked=True,
                      title=title)

    out = tmp_path / "t.txt"
    rows = [result("1", 1, "a-very-long-document-id-0001", 12.5, "Long ids"),
            result("query-long-7", 2, "d2", -0.25)]
    assert write_results(rows, "table", out) == 2
    assert out.read_text().splitlines() == [
        "QID           RANK  DOC_ID                          SCORE  FIRST  TITLE",
        "1                1  a-very-long-document-id-0001  12.5000     11  Long ids",
        "query-long-7     2  d2                            -0.2500     12",
    ]


def test_an_unknown_format_is_refused_before_anything_is_written(tmp_path):
    from xenc.errors import UsageError

    out = tmp_path / "results.csv"
    with pytest.raises(UsageError, match="^fmt must be one of jsonl, trec, table, not 'csv'$"):
        write_results([_result(1)], "csv", out)
    assert list(tmp_path.iterdir()) == []


def test_library_messages_name_python_arguments_not_flags():
    from xenc.errors import UsageError
    from xenc.evaluation.plot import check_plot_path

    with pytest.raises(UsageError, match="^path must end in .png or .svg, not 'k.jpg'$"):
        check_plot_path("k.jpg")
