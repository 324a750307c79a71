"""Build a large BM25 + dense benchmark index in resumable steps (issue 12's 100K index).

The corpus is the first ``--passages`` passages of ``bench/corpora.py`` (seed 13, the BM25
benchmark's: windows of 60-120 words of the shared collections' documents), written once as
JSONL with ids ``p0000000``…. The index is then built by prefixes: the first ``--step``
passages with ``xenc index``, each next prefix with ``xenc index --update``, which embeds only
the new passages. Each step is one complete, atomically switched generation, so a killed run
loses at most the step in progress; running the same command again resumes after the last
finished step (read from the index's manifest). On a 2-core CPU the embedding stage is the
whole cost (≈ 10-20 passages/s), so 100K passages take hours: start it in the background::

    nohup nice python bench/large_index.py --out runs/bench/100k --passages 100000 \
        > runs/bench/100k.log 2>&1 &
    python bench/cold_start.py --index-dir runs/bench/100k/index --append

A timing line per step goes to stderr (passages, seconds, passages/s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpora  # noqa: E402

SEED = 13


def write_jsonl(path: Path, count: int) -> None:
    if path.exists() and sum(1 for _ in open(path, encoding="utf-8")) == count:
        return
    words = corpora.word_stream()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for i, text in enumerate(corpora.passages(words, count, SEED)):
            fh.write(json.dumps({"id": f"p{i:07d}", "text": text}) + "\n")
    tmp.replace(path)


def indexed(index_dir: Path) -> int:
    """Documents in the index's current generation (0 when there is none)."""
    manifest = index_dir / "manifest.json"
    if not manifest.exists():
        return 0
    return int(json.loads(manifest.read_text(encoding="utf-8"))["counts"]["documents"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=25_000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = args.out / "corpus.jsonl"
    write_jsonl(corpus, args.passages)
    index_dir = args.out / "index"
    done = indexed(index_dir)
    while done < args.passages:
        upto = min(done + args.step, args.passages)
        part = args.out / "prefix.jsonl"
        with open(corpus, encoding="utf-8") as src, open(part, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i >= upto:
                    break
                dst.write(line)
        cmd = [sys.executable, "-m", "xenc", "index", str(part), "--index-dir", str(index_dir),
               "--no-progress"] + (["--update"] if done else [])
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        took = time.perf_counter() - start
        print(f"{time.strftime('%H:%M:%S')} indexed {done}..{upto}: {took:.0f} s, "
              f"{(upto - done) / took:.1f} passages/s", file=sys.stderr, flush=True)
        done = upto
    print(f"done: {index_dir} holds {done} passages", file=sys.stderr)


if __name__ == "__main__":
    main()
