"""verify() finds corruption; search refuses a corrupted index; the verify and delete commands."""

from __future__ import annotations

import shutil

import numpy as np
import orjson
import pytest
from conftest import write_jsonl
from typer.testing import CliRunner

from xenc.cli.maintain import app
from xenc.errors import IndexFormatError
from xenc.index.digests import file_digest
from xenc.index.verify import verify
from xenc.pipeline import build_index, open_index

DOCS = [{"id": f"d{i}", "text": f"river sea boat word{i} " + "fire " * i} for i in range(6)]


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_encoder_dir):
    root = tmp_path_factory.mktemp("verify")
    corpus = root / "c.jsonl"
    write_jsonl(corpus, DOCS)
    build_index(corpus, root / "idx", encoder=str(tiny_encoder_dir))
    return root / "idx"


@pytest.fixture()
def index_dir(built, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(built, copy, symlinks=True)
    return copy


def gen(index_dir):
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def rewrite(index_dir, name, data):
    """Replace a file and record its new size and hash, as a buggy writer would."""
    g = gen(index_dir)
    (g / name).write_bytes(data)
    manifest = orjson.loads((g / "manifest.json").read_bytes())
    manifest["files"][name] = file_digest(g / name)
    (g / "manifest.json").write_bytes(orjson.dumps(manifest))


def npy(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def test_sound_index_has_no_problems(index_dir):
    assert verify(index_dir) == []


def test_flipped_byte_is_found_by_hash(index_dir):
    path = gen(index_dir) / "embeddings.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    assert verify(index_dir) == [f"{path}: sha256 differs from the manifest"]


def test_consistent_hashes_but_wrong_content(index_dir):
    g = gen(index_dir)
    vectors = np.load(g / "embeddings.npy")
    rewrite(index_dir, "embeddings.npy", npy(vectors * 2))
    assert verify(index_dir) == [
        f"{g / 'embeddings.npy'}: row 0 is not unit length",
        f"{g / 'hnsw.bin'}: vectors differ from embeddings.npy near row 0",
    ]
    rewrite(index_dir, "embeddings.npy", npy(vectors[::-1].copy()))
    assert verify(index_dir) == [f"{g / 'hnsw.bin'}: vectors differ from embeddings.npy "
                                 "near row 0"]


def test_search_refuses_inconsistent_counts(index_dir):
    rewrite(index_dir, "chunk_doc.npy", npy(np.zeros(3, dtype=np.int32)))
    with pytest.raises(IndexFormatError, match=r"chunk_doc.npy: does not map 6 passages to 6 "
                                               r"documents; the index is corrupted"):
        open_index(index_dir)
    assert any("chunk_doc.npy: differs from the passages table" in p for p in verify(index_dir))
    rewrite(index_dir, "chunk_doc.npy", npy(np.arange(6, dtype=np.int32)))  # back to sound
    rewrite(index_dir, "embeddings.npy", npy(np.zeros((6, 8), dtype=np.float32)))
    with pytest.raises(IndexFormatError, match="embeddings.npy: shape or type differs"):
        open_index(index_dir)


def test_verify_reports_missing_index(tmp_path):
    assert verify(tmp_path / "none") == [f"no index at {tmp_path / 'none'}: run `xenc index` first"]


# commands ------------------------------------------------------------------------------------


def test_verify_command(index_dir):
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--index-dir", str(index_dir)])
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout == ""
    assert ok.stderr == f"{index_dir}: ok (gen-000001, 6 documents, 6 passages)\n"
    size = (gen(index_dir) / "bm25_idf.npy").stat().st_size
    (gen(index_dir) / "bm25_idf.npy").write_bytes(b"\x00" * 8)
    bad = runner.invoke(app, ["verify", "--index-dir", str(index_dir)])
    assert bad.exit_code == 1
    assert bad.stderr.splitlines() == [
        f"problem: {gen(index_dir) / 'bm25_idf.npy'}: 8 bytes, the manifest says {size}",
        f"Error: {index_dir}: 1 problems found",
    ]


def test_delete_command(index_dir, tmp_path):
    runner = CliRunner()
    ids = tmp_path / "ids.txt"
    ids.write_text("d1\n\nd2\nnope\n")
    result = runner.invoke(app, ["delete", "--index-dir", str(index_dir), "--ids", str(ids)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"deleted 2 documents (1 ids not found) from {index_dir}; " \
                            "4 documents left\n"
    result = runner.invoke(app, ["delete", "--index-dir", str(index_dir), "--ids", "-"],
                           input='{"id": "d3"}\n{"_id": "d4"}\n')
    assert result.exit_code == 0, result.stderr
    index = open_index(index_dir)
    assert index.docstore.doc_ids == ["d0", "d5"]
    index.close()
    assert verify(index_dir) == []
    history = orjson.loads((index_dir / "manifest.json").read_bytes())["history"]
    assert [(h["kind"], h["deleted"]) for h in history] == [("delete", 2), ("delete", 2)]


def test_delete_command_errors(index_dir, tmp_path):
    from xenc.index.locking import WriterLock

    runner = CliRunner()
    result = runner.invoke(app, ["delete", "--index-dir", str(index_dir), "--ids", "-"],
                           input='{"id": "d1"}\n{"name": 3}\n')
    assert result.exit_code == 1
    assert result.stderr == 'Error: <stdin>:2: missing id field "id" or "_id"\n'
    lock = WriterLock(index_dir / ".lock").acquire()
    try:
        result = runner.invoke(app, ["delete", "--index-dir", str(index_dir), "--ids", "-",
                                     "--wait", "0.1"], input="d1\n")
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "is locked by another xenc writer (held by PID" in result.stderr
    result = runner.invoke(app, ["delete", "--index-dir", str(tmp_path / "none"), "--ids", "-"],
                           input="d1\n")
    assert result.exit_code == 1
    assert result.stderr == f"Error: no index at {tmp_path / 'none'}: run `xenc index` first\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # nothing created


def test_search_command_refuses_a_corrupted_index(index_dir):
    from xenc.cli.app import app as main_app

    args = ["search", "river", "--index-dir", str(index_dir), "--no-rerank", "--retriever",
            "bm25"]
    assert CliRunner().invoke(main_app, args).exit_code == 0
    path = gen(index_dir) / "bm25_doc_len.npy"
    rewrite(index_dir, "bm25_doc_len.npy", npy(np.ones(5, dtype=np.int32)))
    result = CliRunner().invoke(main_app, args)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: {path}: shape or type differs from the manifest")
    with open(path, "ab") as fh:
        fh.write(b"\0")
    result = CliRunner().invoke(main_app, args)
    assert result.stderr == f"Error: {path}: size differs from the manifest; the index is " \
                            "corrupted\n"
