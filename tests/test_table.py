"""--format table: every column fits its widest value."""

from __future__ import annotations

from xenc.output import write_results
from xenc.records import Result


def result(qid, rank, doc_id, score, title=""):
    return Result(qid=qid, rank=rank, doc_id=doc_id, score=score, first_stage_rank=rank + 10,
                  first_stage_score=0.0, reranked=True, title=title)


def test_columns_fit_their_widest_value(tmp_path):
    out = tmp_path / "t.txt"
    rows = [result("1", 1, "a-very-long-document-id-0001", 12.5, "Long ids"),
            result("query-long-7", 2, "d2", -0.25)]
    assert write_results(rows, "table", out) == 2
    assert out.read_text().splitlines() == [
        "QID           RANK  DOC_ID                          SCORE  FIRST  TITLE",
        "1                1  a-very-long-document-id-0001  12.5000     11  Long ids",
        "query-long-7     2  d2                            -0.2500     12",
    ]
