"""An index writer trusts nothing it finds on disk (issue 22), written as the reproductions.

Each test plants what an attacker or a clumsy user would (a stray manifest, a manifest that
names files outside, a symlinked lock, corrupted carried files, a lost ``CURRENT``) and checks
that xenc refuses with one ``Error:`` line and that nothing outside the index directory changed:
the whole sandbox around it is hashed before and after.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import SAMPLE, write_jsonl
from typer.testing import CliRunner

from xenc.cli.app import app

DOCS = [{"id": f"d{i}", "title": f"title {i}", "text": f"river sea boat word{i} " + "fire " * i}
        for i in range(8)]


def snapshot(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """Every path under ``folder`` (but under ``skip``) → a hash of its bytes or link target."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        if p.is_symlink():
            out[str(p)] = "link:" + str(p.readlink())
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[str(p)] = "dir"
    return out


def xenc(*args: str, input: bytes | None = None):
    result = CliRunner().invoke(app, [str(a) for a in args], input=input)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def one_error(result, code: int = 1) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_encoder_dir):
    """A dense index and a BM25-only index of DOCS, built once."""
    from xenc.pipeline import build_index

    root = tmp_path_factory.mktemp("built")
    corpus = write_jsonl(root / "c.jsonl", DOCS)
    build_index(corpus, root / "dense", encoder=str(tiny_encoder_dir))
    build_index(corpus, root / "bm25", retrievers="bm25")
    return root


@pytest.fixture()
def sandbox(tmp_path, built):
    """``tmp_path`` holding copies of both indexes, a corpus and files that must survive."""
    for name in ("dense", "bm25"):
        shutil.copytree(built / name, tmp_path / name, symlinks=True)
    write_jsonl(tmp_path / "c.jsonl", DOCS)
    (tmp_path / "keep.txt").write_text("keep\n")
    (tmp_path / "app.js").write_text("console.log('mine')\n")
    return tmp_path


def gen(index: Path) -> Path:
    return index / (index / "CURRENT").read_text().strip()


def edit_manifest(index: Path, change) -> None:
    path = gen(index) / "manifest.json"
    manifest = orjson.loads(path.read_bytes())
    change(manifest)
    path.write_bytes(orjson.dumps(manifest))


# 1. A stray manifest.json ----------------------------------------------------------------

@pytest.mark.parametrize("manifest", [
    {"files": {"..": {}}},
    {"files": {"app.js": {}}},
    {"format": "xenc-index", "format_version": 1, "files": {"../app.js": {}}},
    {"format": "xenc-index", "format_version": 1, "files": {"app.js": {"bytes": 1}}},
    [1, 2],
])
def test_a_foreign_manifest_is_refused_and_never_cleaned_up(tmp_path, manifest):
    idx = tmp_path / "p" / "idx"
    idx.mkdir(parents=True)
    (tmp_path / "p" / "keep.txt").write_text("keep\n")
    (idx / "app.js").write_text("mine\n")
    (idx / "manifest.json").write_bytes(orjson.dumps(manifest))
    before = snapshot(tmp_path)
    line = one_error(xenc("index", SAMPLE / "corpus.jsonl", "--index-dir", idx,
                          "--retrievers", "bm25"), 2)
    assert "manifest.json is no" in line or "is not an xenc index manifest" in line
    assert snapshot(tmp_path) == before


# 2. Names in a generation's manifest -----------------------------------------------------

@pytest.mark.parametrize("bad", ["/ABS", "../../keep.txt", "..", "a/b", ""])
@pytest.mark.parametrize("command", ["delete", "update", "verify", "search"])
def test_a_manifest_naming_a_file_outside_is_a_corrupted_index(sandbox, bad, command):
    idx = sandbox / "dense"
    target = str(sandbox / "keep.txt") if bad == "/ABS" else bad

    def plant(manifest):
        manifest["query_encoder"]["data"] = target

    edit_manifest(idx, plant)
    before = snapshot(sandbox, skip=idx)
    args = {
        "delete": ["delete", "--index-dir", idx, "--ids", "-"],
        "update": ["index", sandbox / "c.jsonl", "--index-dir", idx, "--update"],
        "verify": ["verify", "--index-dir", idx],
        "search": ["search", "river", "--index-dir", idx, "--no-rerank"],
    }[command]
    result = xenc(*args, input=b"d1\n")
    one_error(result)
    named = [line for line in result.stderr.splitlines() if "manifest.json" in line]
    assert named and "which is not a file inside" in named[0]
    assert "the index is corrupted" in named[0]
    assert snapshot(sandbox, skip=idx) == before
    assert (sandbox / "keep.txt").read_text() == "keep\n"


def test_a_listed_file_that_is_a_symlink_outside_is_refused(sandbox):
    idx = sandbox / "bm25"
    path = gen(idx) / "bm25_vocab.json"
    shutil.copyfile(path, sandbox / "vocab-copy.json")
    path.unlink()
    path.symlink_to(sandbox / "vocab-copy.json")
    before = snapshot(sandbox, skip=idx)
    for args in (["verify", "--index-dir", idx], ["delete", "--index-dir", idx, "--ids", "-"],
                 ["search", "river", "--index-dir", idx, "--no-rerank"]):
        result = xenc(*args, input=b"d1\n")
        one_error(result)
        assert "bm25_vocab.json: is a symlink; the index is corrupted" in result.stderr
    assert snapshot(sandbox, skip=idx) == before


# 3. The lock ----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["delete", "update"])
def test_a_symlinked_lock_never_truncates_its_target(sandbox, command):
    idx = sandbox / "bm25"
    (idx / ".lock").unlink(missing_ok=True)
    (idx / ".lock").symlink_to(sandbox / "keep.txt")
    before = snapshot(sandbox, skip=idx)
    args = (["delete", "--index-dir", idx, "--ids", "-"] if command == "delete"
            else ["index", sandbox / "c.jsonl", "--index-dir", idx, "--update"])
    line = one_error(xenc(*args, input=b"d1\n"))
    assert ".lock: is a symlink" in line
    assert snapshot(sandbox, skip=idx) == before


# 4. Nothing reused unchecked --------------------------------------------------------------

def zero(path: Path) -> None:
    path.write_bytes(b"\0" * path.stat().st_size)


def swap_rows(path: Path) -> None:
    array = np.load(path, mmap_mode="r+")
    array[[0, 1]] = array[[1, 0]]
    array.flush()
    del array


@pytest.mark.parametrize(("name", "damage"), [
    ("query_encoder.onnx.data", zero), ("embeddings.npy", swap_rows),
    ("docs.sqlite", zero), ("bm25_tf.npy", zero)])
@pytest.mark.parametrize("command", ["delete", "update"])
def test_a_writer_refuses_to_carry_a_corrupted_file(sandbox, name, damage, command):
    idx = sandbox / "dense"
    live = gen(idx)
    damage(live / name)
    args = (["delete", "--index-dir", idx, "--ids", "-"] if command == "delete"
            else ["index", sandbox / "c.jsonl", "--index-dir", idx, "--update"])
    line = one_error(xenc(*args, input=b"d1\n"))
    assert f"{live / name}: sha256 differs from the manifest" in line
    assert gen(idx) == live  # nothing published
    assert any(p.startswith("problem:") for p in xenc("verify", "--index-dir", idx).stderr
               .splitlines())


@pytest.mark.parametrize(("name", "damage"), [
    ("query_encoder.onnx.data", zero), ("embeddings.npy", swap_rows),
    ("query_tokenizer.json", zero)])
def test_search_refuses_a_zeroed_or_changed_file_at_open(sandbox, name, damage):
    idx = sandbox / "dense"
    damage(gen(idx) / name)
    line = one_error(xenc("search", "river", "--index-dir", idx, "--no-rerank",
                          "--retriever", "dense"))
    assert f"{name}: content differs from the manifest's sha256" in line


def test_a_big_file_is_sample_hashed(tmp_path):
    from xenc.index import digests

    path = tmp_path / "big.bin"
    path.write_bytes(np.random.default_rng(0).bytes(digests.SMALL + 12345))
    info = digests.file_digest(path)
    manifest = {"files": {"big.bin": info}}
    digests.check_files(tmp_path, manifest, hashes=True)
    with open(path, "r+b") as fh:  # zero a stretch in the middle, as a bad disk would
        fh.seek(digests.SMALL // 2)
        fh.write(b"\0" * 65536)
    with pytest.raises(Exception, match="content differs"):
        digests.check_files(tmp_path, manifest, hashes=True)


# 5. OS errors at the edges -----------------------------------------------------------------

@pytest.fixture()
def mounted(tmp_path):
    """A 4 MiB tmpfs (root only)."""
    import subprocess

    folder = tmp_path / "mnt"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_on_output_is_one_line(mounted):
    (mounted / "filler").write_bytes(b"x" * (4 * 1024 * 1024 - 64 * 1024))
    rows = [{"query": "river " * 50, "document": "sea " * 400, "id": i} for i in range(200)]
    pairs = write_jsonl(mounted.parent / "pairs.jsonl", rows)
    result = xenc("score", pairs, "--output", mounted / "out.jsonl")
    line = one_error(result)
    assert line.endswith("No space left on device")
    assert sorted(p.name for p in mounted.iterdir()) == ["filler"]  # no temporary left


def test_a_read_only_index_directory_is_one_line(mounted, built):
    import subprocess

    shutil.copytree(built / "bm25", mounted / "idx", symlinks=True)
    subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True)
    line = one_error(xenc("delete", "--index-dir", mounted / "idx", "--ids", "-",
                          input=b"d1\n"))
    assert line.startswith(f"Error: {mounted / 'idx'}") and "Read-only file system" in line
    line = one_error(xenc("search", "river", "--index-dir", mounted / "idx",
                          "--output", mounted / "out.jsonl", "--no-rerank"))
    assert "Read-only file system" in line


def test_train_checks_its_output_before_training(mounted, tmp_path):
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True)
    rows = [{"query": "q", "document": "d", "label": 1}] * 4
    pairs = write_jsonl(tmp_path / "p.jsonl", rows)
    line = one_error(xenc("train", pairs, "-o", mounted / "model"))
    assert line.startswith(f"Error: {mounted}") and "Read-only file system" in line


# 6. Background loading never outlives an error ----------------------------------------------

def test_the_reranker_loading_thread_is_waited_for():
    import threading

    from xenc.background import Loading

    gate = threading.Event()
    loading = Loading(lambda: gate.wait(5))
    assert not loading._thread.daemon  # interpreter exit joins it: never an abort (134)
    gate.set()
    assert loading.result() is True


def test_a_one_query_search_on_a_broken_index_exits_1_every_time(sandbox):
    import subprocess
    import sys

    idx = sandbox / "dense"
    zero(gen(idx) / "bm25_tf.npy")
    codes = set()
    for _ in range(4):
        done = subprocess.run([sys.executable, "-m", "xenc", "search", "river", "--index-dir",
                               str(idx)], capture_output=True, text=True, timeout=120)
        codes.add(done.returncode)
        assert done.stderr.count("Error: ") == 1 and "Traceback" not in done.stderr
    assert codes == {1}


# 7. SQLite read errors ---------------------------------------------------------------------

def test_a_damaged_docstore_page_is_one_line(sandbox, monkeypatch):
    from xenc.index import digests

    monkeypatch.setattr(digests, "SMALL", -1)  # get past the open check, as on a big index
    idx = sandbox / "bm25"
    path = gen(idx) / "docs.sqlite"
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 2, len(data) - page, page):  # every page but the header
        data[offset:offset + 64] = bytes(range(64))
    path.write_bytes(bytes(data))
    queries = write_jsonl(sandbox / "q.jsonl", [{"id": "1", "text": "river"}])
    for args in (["search", "--queries", queries, "--index-dir", idx, "--no-rerank"],
                 ["delete", "--index-dir", idx, "--ids", "-"]):
        monkeypatch.setattr("xenc.index.update.check_digests", lambda *a: None)
        line = one_error(xenc(*args, input=b"d1\n"))
        assert "docs.sqlite" in line and ("corrupted" in line or "malformed" in line)


# 8. A missing CURRENT ----------------------------------------------------------------------

def test_a_missing_current_is_a_corrupted_index_never_rebuilt(sandbox):
    idx = sandbox / "bm25"
    live = gen(idx)
    (idx / "CURRENT").unlink()
    before = snapshot(sandbox)
    for args in (["search", "river", "--index-dir", idx, "--no-rerank"],
                 ["index", sandbox / "c.jsonl", "--index-dir", idx, "--update"],
                 ["index", sandbox / "c.jsonl", "--index-dir", idx],
                 ["delete", "--index-dir", idx, "--ids", "-"]):
        line = one_error(xenc(*args, input=b"d1\n"))
        assert f"{idx / 'CURRENT'}: missing, but {idx} holds {live.name}" in line
        assert f"xenc verify --index-dir {idx} --generation {live.name}" in line
    assert snapshot(sandbox) == before
    result = xenc("verify", "--index-dir", idx, "--generation", live.name)
    assert result.exit_code == 0 and f"ok ({live.name}, 8 documents" in result.stderr
    (idx / "CURRENT").write_text(live.name + "\n")
    assert xenc("search", "river", "--index-dir", idx, "--no-rerank").exit_code == 0


def test_current_naming_a_missing_generation_removes_nothing(sandbox):
    idx = sandbox / "bm25"
    live = gen(idx)
    (idx / "CURRENT").write_text("gen-000099\n")
    before = snapshot(sandbox)
    line = one_error(xenc("delete", "--index-dir", idx, "--ids", "-", input=b"d1\n"))
    assert "names gen-000099, which is missing" in line
    assert snapshot(sandbox) == before and live.is_dir()


# 9. Ids that a format cannot hold -------------------------------------------------------------

def test_ids_with_whitespace_in_trec_and_table(tmp_path):
    from xenc.pipeline import build_index

    docs = [{"id": "a b", "text": "river boat"}, {"id": "c\td", "text": "river sea"},
            {"id": "e\nf", "text": "river sky"}]
    build_index(write_jsonl(tmp_path / "c.jsonl", docs), tmp_path / "idx", retrievers="bm25")
    line = one_error(xenc("search", "river", "--index-dir", tmp_path / "idx", "--no-rerank",
                          "--format", "trec"))
    assert "holds whitespace, which a TREC run cannot hold; use --format jsonl" in line
    table = xenc("search", "river", "--index-dir", tmp_path / "idx", "--no-rerank",
                 "--format", "table")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert len(lines) == 4  # a header and one line per document: nothing split a row
    assert any("c\\td" in line for line in lines) and any("e\\nf" in line for line in lines)


# 10. One huge line ----------------------------------------------------------------------------

def test_a_huge_document_is_cut_before_tokenizing(tiny_reranker, monkeypatch):
    from xenc.models.pair_inputs import PairEncoder
    from xenc.models.runtime import CHARS_PER_TOKEN

    seen = []
    tokenizer = tiny_reranker._tokenizer
    original = type(tokenizer).__call__
    encode = PairEncoder._encode_unique

    def spy(self, *args, **kwargs):
        for arg in args:
            for text in (arg if isinstance(arg, list) else [arg]):
                seen.append(len(text))
        return original(self, *args, **kwargs)

    def spy_encode(self, texts):  # the one-pass path tokenizes through the Rust backend
        seen.extend(len(t) for t in texts)
        return encode(self, texts)

    monkeypatch.setattr(PairEncoder, "_encode_unique", spy_encode)
    huge = "word " * 400_000  # 2 MB
    type(tokenizer).__call__ = spy
    try:
        before = tiny_reranker.truncated
        cut = tiny_reranker.score_pairs([("river", huge)])
    finally:
        type(tokenizer).__call__ = original
    assert seen and max(seen) <= tiny_reranker.max_length * CHARS_PER_TOKEN
    assert tiny_reranker.truncated == before + 1
    assert cut == tiny_reranker.score_pairs([("river", huge[:20_000])])


def test_a_huge_document_is_chunked_as_if_whole(bundled_tokenizer, monkeypatch):
    from xenc.config import ChunkParams
    from xenc.index import chunking
    from xenc.records import Document

    words = [f"w{i % 997}ord" for i in range(30_000)]
    text = " ".join(words) + "\n\n" + "\t".join(words[:500])
    doc = Document("d", text, "a title")
    whole = chunking.chunk_spans([doc], bundled_tokenizer, ChunkParams(64, 8))
    monkeypatch.setattr(chunking, "SEGMENT_CHARS", 1000)
    assert chunking.chunk_spans([doc], bundled_tokenizer, ChunkParams(64, 8)) == whole


def test_a_20_mb_line_keeps_score_memory_bounded(tmp_path, tiny_reranker_dir):
    import resource
    import subprocess
    import sys

    pairs = tmp_path / "big.jsonl"
    pairs.write_bytes(orjson.dumps({"query": "river", "document": "word " * 4_000_000}) + b"\n")
    done = subprocess.run([sys.executable, "-m", "xenc", "score", str(pairs), "--reranker",
                           str(tiny_reranker_dir)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mib < 1500, peak_mib  # was 3 GB: the whole line was tokenized


# 11. Non-finite numbers --------------------------------------------------------------------

@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_a_non_finite_budget_is_a_usage_error(sandbox, value):
    idx = sandbox / "bm25"
    line = one_error(xenc("search", "river", "--index-dir", idx, "--budget-ms", value), 2)
    if value == "-inf":  # below the option's own minimum: Click says so first
        assert "--budget-ms" in line and "-inf" in line
        return
    assert line.startswith("Error: --budget-ms must be a finite number > 0")
    queries = write_jsonl(sandbox / "q.jsonl", [{"id": "1", "text": "river"}])
    qrels = sandbox / "q.tsv"
    qrels.write_text("1\t0\td1\t1\n")
    line = one_error(xenc("eval", "--index-dir", idx, "--queries", queries, "--qrels", qrels,
                          "--budget-ms", value), 2)
    assert line.startswith("Error: --budget-ms must be a finite number > 0")


def test_search_params_are_checked_from_python_with_the_same_wording():
    from xenc.config import SearchParams
    from xenc.errors import UsageError

    for kwargs, message in [({"k": 0}, "k must be an integer >= 1, not 0"),
                            ({"rrf_k": -3}, "rrf_k must be an integer >= 1, not -3"),
                            ({"budget_ms": -5}, "budget_ms must be a finite number > 0, not -5")]:
        with pytest.raises(UsageError, match=message):
            SearchParams(**kwargs)


# 12. Leftovers and bytes ------------------------------------------------------------------------

def test_sigterm_during_output_leaves_no_temporary(sandbox):
    import os
    import signal
    import subprocess
    import sys
    import time

    rows = [{"query": "river " * 20, "document": "sea boat " * 100} for _ in range(20000)]
    pairs = write_jsonl(sandbox / "many.jsonl", rows)
    out = sandbox / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "xenc", "score", str(pairs), "--output",
                             str(out / "scored.jsonl")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(out.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "Error: terminated"
    assert os.listdir(out) == []


def test_invalid_utf8_in_delete_ids_is_located(sandbox):
    idx = sandbox / "bm25"
    line = one_error(xenc("delete", "--index-dir", idx, "--ids", "-", input=b"d1\n\xff\xfe\n"))
    assert line == "Error: <stdin>:2: not valid UTF-8"
