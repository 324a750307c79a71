"""Cheap checks on open: a corrupted file of the same size is one `Error:` line, exit 1.

Bytes are overwritten in place (same size, manifest untouched), as a bad disk or a stray
write would do; `xenc verify` (full hashes) is not run.

Opening hashes every file of up to ``digests.SMALL`` bytes in full, which would catch each
of these at once on a tiny index; the checks here are the ones that guard big indexes, whose
files are only sample-hashed, so the tests open as if every file were big (``SMALL = -1``).
The hash checks themselves are tested in test_integrity.py.
"""

from __future__ import annotations

import shutil

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from xenc.cli.app import app

DOCS = [{"id": f"d{i}", "text": f"river sea boat word{i} " + "fire " * i} for i in range(8)]
BAD = "the index is corrupted; run `xenc verify` or re-run `xenc index`\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_encoder_dir):
    from xenc.pipeline import build_index

    root = tmp_path_factory.mktemp("checks")
    corpus = root / "c.jsonl"
    corpus.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in DOCS))
    build_index(corpus, root / "idx", encoder=str(tiny_encoder_dir))
    return root / "idx"


@pytest.fixture(autouse=True)
def every_file_big(monkeypatch):
    from xenc.index import digests

    monkeypatch.setattr(digests, "SMALL", -1)


@pytest.fixture()
def index_dir(built, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(built, copy, symlinks=True)
    return copy


def gen(index_dir):
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def poke(path, index, value):
    """Overwrite element ``index`` of a .npy file in place, keeping its size."""
    array = np.load(path, mmap_mode="r+")
    array.flat[index] = value
    array.flush()
    del array


def search(index_dir, retriever):
    return CliRunner().invoke(app, ["search", "river fire", "--index-dir", str(index_dir),
                                    "--no-rerank", "--retriever", retriever])


@pytest.mark.parametrize(
    ("name", "index", "value", "retriever", "reason"),
    [
        ("chunk_doc.npy", 3, 1000, "dense", "does not map 8 passages to 8 documents"),
        ("chunk_doc.npy", 3, 1, "hybrid", "does not map 8 passages to 8 documents"),
        ("embeddings.npy", 0, 7.5, "dense", "embedding rows are not unit vectors"),
        ("embeddings.npy", -1, np.nan, "hybrid", "embedding rows are not unit vectors"),
        ("bm25_tf.npy", 2, 9, "bm25", "term frequencies do not add up to the lengths in "
                                      "bm25_doc_len.npy"),
        ("bm25_tf.npy", 0, 0, "bm25", "a term frequency is below 1"),
        ("bm25_rows.npy", 1, 99, "bm25", "a row id is out of range (0..7)"),
        ("bm25_idf.npy", 0, np.inf, "hybrid", "a weight is not finite"),
    ],
)
def test_corrupted_file_is_one_error_line(index_dir, name, index, value, retriever, reason):
    assert search(index_dir, retriever).exit_code == 0
    path = gen(index_dir) / name
    poke(path, index, value)
    result = search(index_dir, retriever)
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    shown = path if not name.startswith("bm25_") else name
    assert result.stderr == f"Error: {shown}: {reason}; {BAD}"


def test_verify_still_finds_a_low_bit_flip_the_cheap_checks_miss(index_dir):
    from xenc.index.verify import verify

    path = gen(index_dir) / "embeddings.npy"
    array = np.load(path, mmap_mode="r+")
    array[3, 0] = np.nextafter(array[3, 0], np.float32(2))  # last mantissa bit
    array.flush()
    del array
    assert search(index_dir, "dense").exit_code == 0  # not caught by the sample check
    assert any("embeddings.npy" in p for p in verify(index_dir))


def test_a_posting_moved_to_another_row_is_caught(index_dir):
    """A row id changed to another valid row keeps every total but one: the weighted one."""
    path = gen(index_dir) / "bm25_rows.npy"
    rows = np.load(path)
    poke(path, 4, (int(rows[4]) + 3) % 8)
    result = search(index_dir, "bm25")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == ("Error: bm25_tf.npy: term frequencies do not add up to the lengths "
                             f"in bm25_doc_len.npy; {BAD}")
