"""Cold start of one ``xenc search "…"`` process (issue 12): wall time and peak RSS.

Each case is a whole process, started and waited for as a shell would (page cache warm:
one unmeasured warm-up run per case first); cases run round-robin, ``--repeat`` rounds, so
load drift hits all of them alike. Reported per case: median and min wall time, and the
median peak RSS (``ru_maxrss`` of the child, from ``os.wait4``; it includes this small
parent's RSS at spawn, ~20 MiB, so read it as an upper bound). Side by side in one run:

* ``xenc search`` with ``--retriever bm25``, ``hybrid``, and ``hybrid`` + rerank of
  ``--candidates`` (100) candidates, with the default backend (``auto``: ONNX where checked
  exports exist, so no torch), once with ``--passages-per-doc 1`` (the pairs
  sentence-transformers gets) and once with every other setting at its default (up to 3
  passages a document);
* hybrid with ``--exact`` (a scan of the memory-mapped embeddings instead of loading the
  HNSW graph: what the graph's load costs a one-query process);
* the same hybrid and hybrid + rerank with ``--backend torch``;
* ``python -c "import torch, transformers"``: the floor any torch-based tool pays;
* sentence-transformers ``CrossEncoder(RERANKER).predict`` on the same pairs, process start
  and model load included (skipped when sentence-transformers is not installed).

The rerank cases use ``--passages-per-doc 1`` so that xenc scores exactly the pairs handed to
sentence-transformers: one (query, best first-stage passage) pair per candidate, computed
once here with the library before the timed runs.

Bytecode: the children may write ``.pyc`` files (``PYTHONDONTWRITEBYTECODE`` is dropped from
their environment; the unmeasured warm-up run writes them), as a package installed by pip
has them: without them every process compiles xenc's modules again (~60 ms here).

The index is an argument, so the same script measures the sample index and a large one::

    xenc index data/sample/corpus.jsonl --index-dir runs/bench/sample.index
    python bench/cold_start.py --index-dir runs/bench/sample.index --reranker DIR

    # 100K passages, BM25 + dense: building the dense side takes hours on a 2-core CPU
    # (run it once, e.g. overnight, then reuse the directory)
    xenc index runs/bench/100k/corpus.jsonl --index-dir runs/bench/100k.index
    python bench/cold_start.py --index-dir runs/bench/100k.index --reranker DIR --append

``--reranker`` defaults to the reranker shipped in ``xenc/assets/reranker`` when there is
one. For the default path to be torch-free the reranker needs a checked export
(``xenc export DIR``) and the index a checked query encoder (made by ``xenc index``).
``--append`` adds the table to docs/benchmarks.md. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_stage import append_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUERY = "how do I keep a sourdough starter alive"
ST_CHILD = (
    "import json, sys\n"
    "from sentence_transformers import CrossEncoder\n"
    "pairs = json.load(open(sys.argv[2]))\n"
    "CrossEncoder(sys.argv[1], device='cpu').predict(pairs, batch_size=32)\n"
)


PAIRS_CHILD = """
import json, sys
from xenc import SearchParams, open_index
from xenc.retrieval.stage import first_stage

index_dir, query, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
index = open_index(index_dir)
cands = first_stage(index, query, SearchParams(candidates=n, k=n))
chunks = index.docstore.chunks(c.rows[0] for c in cands)
json.dump([[query, chunks[c.rows[0]].passage()] for c in cands], open(out, "w"))
"""


def write_pairs(index_dir: str, query: str, candidates: int, out: Path, env: dict) -> None:
    """(query, best first-stage passage) of each hybrid candidate, what xenc reranks with
    ``--passages-per-doc 1``. In a child process: this one must stay small, because Linux
    counts the parent's RSS at spawn in a child's peak RSS (``ru_maxrss``)."""
    subprocess.run([sys.executable, "-c", PAIRS_CHILD, index_dir, query, str(candidates),
                    str(out)], check=True, env=env)


def cases(args: argparse.Namespace, pairs_file: Path) -> list[tuple[str, list[str]]]:
    py = sys.executable
    search = [py, "-m", "xenc", "search", args.query, "--index-dir", args.index_dir, "-k", "10"]
    rerank = ["--reranker", args.reranker, "--candidates", str(args.candidates),
              "--passages-per-doc", "1"]
    out = [
        ("xenc search, bm25", [*search, "--retriever", "bm25", "--no-rerank"]),
        ("xenc search, hybrid", [*search, "--retriever", "hybrid", "--no-rerank"]),
        ("xenc search, hybrid, --exact", [*search, "--retriever", "hybrid", "--no-rerank",
                                          "--exact"]),
        (f"xenc search, hybrid + rerank {args.candidates}", [*search, *rerank]),
        (f"xenc search, hybrid + rerank {args.candidates}, default passages per document",
         [*search, "--reranker", args.reranker, "--candidates", str(args.candidates)]),
        ("xenc search, hybrid, --backend torch",
         [*search, "--retriever", "hybrid", "--no-rerank", "--backend", "torch"]),
        (f"xenc search, hybrid + rerank {args.candidates}, --backend torch",
         [*search, *rerank, "--backend", "torch"]),
        ('python -c "import torch, transformers"', [py, "-c", "import torch, transformers"]),
    ]
    probe = subprocess.run([py, "-c", "import sentence_transformers"], capture_output=True)
    if probe.returncode == 0:
        out.append((f"sentence-transformers CrossEncoder.predict, {args.candidates} pairs",
                    [py, "-c", ST_CHILD, args.reranker, str(pairs_file)]))
    else:
        print("sentence-transformers not installed: its case is skipped", file=sys.stderr)
    return out


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process; exits on a failed one."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--reranker", default=None,
                        help="cross-encoder directory (default: the shipped one)")
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--before", default=None, metavar="DIR",
                        help="an earlier checkout of xenc: its xenc cases run too, "
                        "interleaved, labelled (before), for a before/after in one run")
    parser.add_argument("--append", action="store_true", help="append to docs/benchmarks.md")
    args = parser.parse_args()
    if args.reranker is None:
        from xenc.models.resolve import default_reranker_dir

        shipped = default_reranker_dir()
        if shipped is None:
            parser.error("no reranker ships with this xenc: pass --reranker DIR")
        args.reranker = str(shipped)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # see the module docstring
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        pairs_file = Path(tmp) / "pairs.json"
        write_pairs(args.index_dir, args.query, args.candidates, pairs_file, env)
        todo = [(name, cmd, env) for name, cmd in cases(args, pairs_file)]
        if args.before:  # the same xenc commands with the earlier checkout's code, interleaved
            earlier = {**env, "PYTHONPATH": str(Path(args.before).resolve())}
            todo = [row for name, cmd, e in todo for row in (
                [(name, cmd, e), (f"{name} (before)", cmd, earlier)] if "xenc" in cmd
                else [(name, cmd, e)])]
        for _, cmd, case_env in todo:  # warm-up: page cache, .pyc files; not measured
            timed(cmd, case_env)
        walls: dict[str, list[float]] = {name: [] for name, _, _ in todo}
        rss: dict[str, list[float]] = {name: [] for name, _, _ in todo}
        for _ in range(args.repeat):
            for name, cmd, case_env in todo:
                wall, peak = timed(cmd, case_env)
                walls[name].append(wall)
                rss[name].append(peak)
    lines = ["| process | median wall s | min wall s | peak RSS MiB |", "|---|---:|---:|---:|"]
    for name, _, _ in todo:
        lines.append(f"| {name} | {statistics.median(walls[name]):.3f} | "
                     f"{min(walls[name]):.3f} | {statistics.median(rss[name]):.0f} |")
    table = "\n".join(lines)
    print(table)
    if args.append:
        manifest = json.loads((Path(args.index_dir) / "manifest.json").read_text())
        counts = manifest["counts"]
        load_end = os.getloadavg()
        append_section(
            "Cold start of one `xenc search` process (issue 12)",
            f"{os.cpu_count()} cores, median of {args.repeat}; load average (1/5/15 min) "
            f"{' '.join(f'{x:.2f}' for x in load_start)} at the start, "
            f"{' '.join(f'{x:.2f}' for x in load_end)} at the end",
            f"Index: {counts['documents']} documents, {counts['passages']} passages; "
            f"reranker {args.reranker}. The rerank cases score {args.candidates} pairs "
            "(`--passages-per-doc 1`), the same pairs sentence-transformers gets, except the "
            "one with default passages per document (up to 3 passages of each candidate, as "
            "`xenc search` does by default). Bytecode (.pyc) present, as after pip install."
            + (f" Rows marked (before) ran the same command with the code of {args.before} "
               "(an earlier checkout), interleaved with the others." if args.before else ""),
            table,
        )


if __name__ == "__main__":
    main()
