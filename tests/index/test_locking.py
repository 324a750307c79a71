"""The writer lock, readers pinned to a generation, garbage collection of old generations."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import orjson
import pytest
from conftest import write_jsonl

from xenc.errors import IndexLockedError, UsageError
from xenc.index.locking import WriterLock
from xenc.index.update import delete_documents, update_index
from xenc.pipeline import build_index, open_index
from xenc.retrieval.bm25 import bm25_candidates

DOCS = [{"id": f"d{i}", "text": f"word{i} river sea boat {'fire ' * i}"} for i in range(6)]


@pytest.fixture()
def index_dir(tmp_path, tiny_encoder_dir):
    target = tmp_path / "idx"
    build_index(write_jsonl(tmp_path / "c.jsonl", DOCS), target, encoder=str(tiny_encoder_dir))
    return target


def generations(index_dir):
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-"))


def test_second_writer_fails_after_waiting_and_names_the_holder(index_dir):
    lock = WriterLock(index_dir / ".lock").acquire()
    try:
        t0 = time.monotonic()
        with pytest.raises(IndexLockedError, match=rf"locked by another xenc writer \(held by "
                                                   rf"PID {os.getpid()}\); gave up after "
                                                   r"waiting 0.3s"):
            delete_documents(index_dir, ["d1"], wait=0.3)
        assert time.monotonic() - t0 >= 0.3
    finally:
        lock.release()
    assert (index_dir / ".lock").read_text() == ""  # no PID once released
    assert generations(index_dir) == ["gen-000001"]


def test_waiting_writer_proceeds_when_the_lock_is_released(index_dir):
    lock = WriterLock(index_dir / ".lock").acquire()
    threading.Timer(0.3, lock.release).start()
    manifest = delete_documents(index_dir, ["d1"], wait=10)
    assert manifest["counts"]["documents"] == len(DOCS) - 1


def test_lock_of_a_killed_process_is_released(index_dir):
    code = ("import fcntl, sys, time; f = open(sys.argv[1], 'a+'); "
            "fcntl.flock(f, fcntl.LOCK_EX); f.write('999999'); f.flush(); "
            "print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(index_dir / ".lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError, match="held by PID 999999"):
            delete_documents(index_dir, ["d1"])
    finally:
        holder.kill()
        holder.wait()
    assert delete_documents(index_dir, ["d1"])["counts"]["documents"] == len(DOCS) - 1


def test_reader_keeps_its_generation_until_closed(index_dir, tmp_path):
    reader = open_index(index_dir)
    before = [c.doc_id for c in bm25_candidates(reader, "fire", 10)]
    update_index(write_jsonl(tmp_path / "c2.jsonl", DOCS[:2]), index_dir, delete_missing=True)
    # the reader's generation survives the writer's garbage collection and still answers
    assert generations(index_dir) == ["gen-000001", "gen-000002"]
    assert [c.doc_id for c in bm25_candidates(reader, "fire", 10)] == before
    newer = open_index(index_dir)
    assert [c.doc_id for c in bm25_candidates(newer, "fire", 10)] == ["d1"]
    newer.close()
    reader.close()
    delete_documents(index_dir, ["d0"])  # the next writer collects unread generations
    assert generations(index_dir) == ["gen-000003"]
    assert os.readlink(index_dir / "manifest.json") == "gen-000003/manifest.json"


def test_writer_removes_what_killed_writers_left(index_dir):
    (index_dir / "gen-000007.tmp-4242").mkdir()
    (index_dir / "gen-000007.tmp-4242" / "docs.sqlite").write_bytes(b"partial")
    (index_dir / "CURRENT.tmp-4242").write_text("gen-000007\n")
    (index_dir / "gen-000005").mkdir()  # renamed but never made live
    delete_documents(index_dir, [])
    assert sorted(p.name for p in index_dir.iterdir()) == [
        ".lock", "CURRENT", "gen-000001", "manifest.json"]


def test_only_xenc_leftovers_make_a_directory_reusable(tmp_path, tiny_encoder_dir):
    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    leftovers = tmp_path / "killed"
    (leftovers / "gen-000001.tmp-1").mkdir(parents=True)
    (leftovers / ".lock").write_text("1\n")
    build_index(corpus, leftovers, encoder=str(tiny_encoder_dir))
    assert generations(leftovers) == ["gen-000001"]  # the stale one was removed first
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "gen-notes.txt").write_text("keep")
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(UsageError, match="not an xenc index; refusing to replace it"):
        build_index(corpus, mine, encoder=str(tiny_encoder_dir))
    assert sorted(p.name for p in mine.iterdir()) == ["gen-notes.txt", "notes.txt"]


READER = r"""
import sys, time
from pathlib import Path
from xenc.pipeline import open_index
from xenc.retrieval.bm25 import bm25_candidates

target, stop = Path(sys.argv[1]), Path(sys.argv[2])
seen = set()
deadline = time.monotonic() + 60
print("ready", flush=True)
while not stop.exists() and time.monotonic() < deadline:
    index = open_index(target)
    ids = set(index.docstore.doc_ids)
    hits = {c.doc_id for c in bm25_candidates(index, "river", 100)}
    assert len(ids) == index.manifest["counts"]["documents"] == index.bm25.num_rows
    assert hits == ids, (hits, ids)  # every document mentions "river"
    seen.add(len(ids))
    index.close()
print(sorted(seen), flush=True)
"""


def test_concurrent_readers_see_whole_generations(index_dir, tmp_path):
    from conftest import ROOT

    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(index_dir), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT)
    try:
        assert reader.stdout.readline().strip() == "ready"
        for i in range(1, 5):
            delete_documents(index_dir, [f"d{i}"], wait=30)
            time.sleep(0.1)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert set(orjson.loads(out)) <= {6, 5, 4, 3, 2}  # whole generations, each consistent
    assert (index_dir / "CURRENT").read_text() == "gen-000005\n"
