"""Ctrl-C in a real process (``python -m xenc``): exit 130, one stderr line, nothing half-done.

The command is interrupted once it has started writing (a new path appears under the test's
folder), so the signal lands in the middle of the work, not during imports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import write_jsonl

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

WORDS = ("star planet orbit light year moon sun river water rock cold warm bird song tree leaf "
         "paper book music room night field").split()


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (hidden ones included) → its bytes (None for folders)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XENC_")}
    return {**clean, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "XENC_DEVICE": "cpu"}


def default_sigint() -> None:
    """Give the child the default SIGINT disposition.

    A job started in the background of a non-interactive shell (``make test &``, nohup, some CI
    runners) inherits SIGINT as *ignored*; Python then installs no KeyboardInterrupt handler and
    the signal would be lost, whatever xenc does.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_when_busy(args: list[str], watch: Path, before: dict, timeout: float = 120):
    """Start ``python -m xenc ARGS``, send SIGINT once ``watch`` changes, return the result."""
    proc = subprocess.Popen([sys.executable, "-m", "xenc", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env(), preexec_fn=default_sigint)
    deadline = time.monotonic() + timeout
    try:
        while set(tree(watch)) == set(before):
            assert proc.poll() is None, proc.communicate()[1].decode()  # finished too soon
            assert time.monotonic() < deadline, "the command never started writing"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the work now
        assert proc.poll() is None, "finished before the interrupt: make the input bigger"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out.decode(), err.decode()


def corpus_lines(n: int, words: int) -> bytes:
    return b"".join(
        orjson.dumps({"id": f"d{i}", "text": " ".join(WORDS[(i * 7 + j) % len(WORDS)]
                                                       for j in range(words))}) + b"\n"
        for i in range(n))


@pytest.mark.parametrize("existing", [False, True])
def test_sigint_during_index(tmp_path, tiny_encoder_dir, existing):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(corpus_lines(6000, 120))
    idx = tmp_path / "idx"
    args = ["index", str(corpus), "--index-dir", str(idx), "--encoder", str(tiny_encoder_dir),
            "--chunk-tokens", "32", "--chunk-stride", "4", "--no-progress"]
    if existing:
        from xenc.pipeline import build_index

        small = tmp_path / "small.jsonl"
        small.write_bytes(corpus_lines(3, 5))
        build_index(small, idx, encoder=str(tiny_encoder_dir))
    before = tree(tmp_path)
    code, out, err = interrupt_when_busy(args, tmp_path, before)
    assert code == 130, err
    assert err == "Error: interrupted\n" and out == ""
    assert tree(tmp_path) == before  # no index, no temporary directory; the old one untouched


def test_sigint_during_score_to_file(tmp_path, tiny_reranker_dir):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", (
        {"query": f"{WORDS[i % 20]} {WORDS[(i + 3) % 20]}",
         "document": " ".join(WORDS[(i + j) % 20] for j in range(60))}
        for i in range(40_000)))
    out = tmp_path / "scored.jsonl"
    before = tree(tmp_path)
    code, stdout, err = interrupt_when_busy(
        ["score", str(pairs), "--reranker", str(tiny_reranker_dir), "-o", str(out)],
        tmp_path, before)
    assert code == 130, err
    assert err == "Error: interrupted\n" and stdout == ""
    assert tree(tmp_path) == before  # no output file, no temporary file
