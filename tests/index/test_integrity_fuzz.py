"""Random manifests (hypothesis): every writer either refuses or works, and nothing outside
the index directory changes (issue 22).

A BM25-only index is copied into a sandbox beside files that must survive; its live
manifest (and sometimes a top-level ``manifest.json``) is replaced by a generated one that
mixes valid records with hostile names (``..``, absolute paths into the sandbox, names with a
separator, the index's own entries). Then ``delete``, ``--update``, a full build and
``verify`` run through the Python API. Each must return or raise an ``XencError``, and the
sandbox, hashed before and after, must be unchanged outside the index directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from conftest import write_jsonl
from hostile import FEW
from hypothesis import given
from hypothesis import strategies as st
from test_integrity import DOCS, snapshot

from xenc.errors import XencError

ABS = "@ABS@"  # replaced by an absolute path to a sandbox file
NAMES = st.sampled_from([
    "..", ".", "", "a/b", "../keep.txt", "../../keep.txt", ABS, "gen-000001", ".lock",
    "CURRENT", "manifest.json", "docs.sqlite", "bm25_tf.npy", "chunk_tokenizer.json",
    "app.js", "\0x", "..\\keep.txt",
])
INFO = st.one_of(
    st.none(), st.integers(), st.text(max_size=3),
    st.fixed_dictionaries({"bytes": st.one_of(st.integers(-1, 10**6), st.booleans(),
                                              st.none()),
                           "sha256": st.one_of(st.text(max_size=4), st.none())}),
)
RECORD = st.one_of(st.none(), st.text(max_size=3), st.fixed_dictionaries(
    {}, optional={"file": NAMES, "tokenizer": NAMES, "data": NAMES}))


@st.composite
def manifests(draw):
    keep_valid_files = draw(st.booleans())
    changes = {
        "files": draw(st.one_of(st.just(None), st.dictionaries(NAMES, INFO, max_size=4))),
        "query_encoder": draw(RECORD),
        "chunk_tokenizer": draw(RECORD),
        "format_version": draw(st.sampled_from([2, 2, 2, 1, 3, "2", None])),
        "retrievers": draw(st.sampled_from([["bm25"], ["bm25"], ["bm25", "dense"], ["x"]])),
    }
    stray = draw(st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["format", "format_version", "files"]),
        st.one_of(st.just("xenc-index"), st.just(1), st.dictionaries(NAMES, INFO, max_size=3)),
        max_size=3)))
    return keep_valid_files, changes, stray


def plant(manifest: dict, keep_valid_files: bool, changes: dict, abs_path: str) -> dict:
    out = dict(manifest)
    for key, value in changes.items():
        if key == "files" and (value is None or keep_valid_files):
            if value:
                out["files"] = {**manifest["files"], **value}
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return orjson.loads(orjson.dumps(out).replace(ABS.encode(), abs_path.encode()))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from xenc.pipeline import build_index

    root = tmp_path_factory.mktemp("fuzz")
    corpus = write_jsonl(root / "c.jsonl", DOCS)
    build_index(corpus, root / "idx", retrievers="bm25")
    return root


@given(case=manifests())
@FEW
def test_random_manifests_never_touch_anything_outside(template, tmp_path_factory, case):
    from xenc.index.update import delete_documents, update_index
    from xenc.index.verify import verify
    from xenc.pipeline import build_index

    keep_valid_files, changes, stray = case
    sandbox = tmp_path_factory.mktemp("sandbox")
    idx = sandbox / "idx"
    shutil.copytree(template / "idx", idx, symlinks=True)
    corpus = shutil.copy(template / "c.jsonl", sandbox / "c.jsonl")
    (sandbox / "keep.txt").write_text("keep\n")
    (idx.parent / "app.js").write_text("mine\n")
    live = idx / (idx / "CURRENT").read_text().strip()
    manifest = orjson.loads((live / "manifest.json").read_bytes())
    (live / "manifest.json").write_bytes(orjson.dumps(
        plant(manifest, keep_valid_files, changes, str(sandbox / "keep.txt"))))
    if stray is not None:
        (idx / "manifest.json").unlink()
        (idx / "manifest.json").write_bytes(orjson.dumps(
            plant(stray, False, {}, str(sandbox / "keep.txt"))))
    before = snapshot(sandbox, skip=idx)
    for write in (lambda: delete_documents(idx, ["d1"]),
                  lambda: update_index(corpus, idx, delete_missing=True),
                  lambda: verify(idx),
                  lambda: build_index(corpus, idx, retrievers="bm25")):
        try:
            write()
        except XencError:
            pass
        assert snapshot(sandbox, skip=idx) == before
    assert Path(sandbox / "keep.txt").read_text() == "keep\n"
