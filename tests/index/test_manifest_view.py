"""xenc.index.manifest_view: the typed reading of manifest.json that commands report from."""

from __future__ import annotations

from xenc.index.manifest_view import Change, ManifestView
from xenc.index.store import open_generation


def test_reads_a_built_index(sample_index):
    _, manifest, pinned = open_generation(sample_index)
    pinned.close()
    view = ManifestView.of(manifest)
    assert view.documents == 241  # the documents of data/sample/corpus.jsonl
    assert view.passages == 1342  # 128-token passages, 16 overlapping (the fixture's chunking)
    assert view.retrievers == ("bm25", "dense")
    assert view.has_encoder is True
    assert view.history == ()
    assert view.last_change is None
    assert view.published is True
    assert view.onnx_refused is None


def test_reads_updates_deletes_and_a_refused_export():
    manifest = {
        "counts": {"documents": 3, "passages": 5},
        "retrievers": ["bm25"],
        "query_encoder": {"check": {"passed": False, "reason": "differs by 1e-2"}},
        "history": [
            {"kind": "update", "added": 1, "changed": 2, "deleted": 0, "unchanged": 4},
            {"kind": "delete", "not_found": 1, "added": 0, "changed": 0, "deleted": 2,
             "unchanged": 1},
        ],
        "published": False,
    }
    view = ManifestView.of(manifest)
    assert (view.documents, view.passages, view.retrievers) == (3, 5, ("bm25",))
    assert view.has_encoder is False
    assert view.published is False
    assert view.onnx_refused == "differs by 1e-2"
    assert view.history[0] == Change("update", 1, 2, 0, 4, 0)
    assert view.last_change == Change("delete", 0, 0, 2, 1, 1)

