"""Crash safety: writers SIGKILLed at every stage never damage the live index.

A writer kills itself with SIGKILL where ``XENC_TEST_KILL_AT`` names a stage (see
``xenc.index.store.kill_point``). One run goes through ``python -m xenc index`` in a fresh
interpreter; the others run in children forked from one driver process that imported torch
once (a fresh interpreter per stage would cost seconds each), each child running the same
``xenc`` command line (or, for an update, ``build_index(update=True)``) and being killed.
After every crash a reader child runs ``xenc search``; its output bytes must equal those of the
index before the crash (or, once ``CURRENT`` was switched, those of the new index).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, write_jsonl

from xenc.pipeline import build_index

DRIVER = r"""
import json, os, sys, traceback
import torch  # imported once (with everything the children use); forked children reuse it
torch.set_num_threads(1)  # no thread pool in the parent: forking stays safe
from transformers import AutoModel, AutoTokenizer, BertModel, BertTokenizerFast
import xenc.models.encoder, xenc.index.build, xenc.index.update
from xenc.cli.app import app
from xenc.pipeline import build_index

spec = json.load(open(sys.argv[1]))

def forked(run):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 3
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

def step_runner(step):
    def run():
        if step.get("kill"):
            os.environ["XENC_TEST_KILL_AT"] = step["kill"]
        if step.get("out"):
            os.dup2(os.open(step["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
        if step.get("update"):
            build_index(step["update"], spec["dir"], update=True, delete_missing=True)
        else:
            app(step["argv"])
    return run

for step in spec["steps"]:
    status = forked(step_runner(step))
    print(json.dumps({"status": status, "entries": sorted(os.listdir(spec["dir"]))}), flush=True)
"""

OLD = [{"id": f"d{i}", "title": f"t{i}", "text": f"river sea boat {'fire ' * i} word{i}"}
       for i in range(8)]
NEW = OLD[2:] + [{"id": "x1", "text": "fire and water and a boat on the river"},
                 {"id": "x2", "text": "stars over the sea at night"}]
PRE_PUBLISH = ["chunked", "embedded", "bm25", "staged", "renamed"]


@pytest.fixture()
def setup(tmp_path, tiny_encoder_dir):
    target = tmp_path / "idx"
    old = write_jsonl(tmp_path / "old.jsonl", OLD)
    build_index(old, target, encoder=str(tiny_encoder_dir))
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "1", "text": "fire boat"}\n{"id": "2", "text": "sea night"}\n')
    return target, old, write_jsonl(tmp_path / "new.jsonl", NEW), queries


def run_driver(tmp_path, target, steps):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"dir": str(target), "steps": steps}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("XENC_")}
    out = subprocess.run([sys.executable, "-c", DRIVER, str(spec)], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_killed_writers_never_damage_the_index(tmp_path, setup, tiny_encoder_dir):
    target, old, new, queries = setup
    search = ["search", "--index-dir", str(target), "--queries", str(queries), "--no-rerank",
              "--retriever", "hybrid", "--exact", "-k", "5"]
    index = ["index", str(new), "--index-dir", str(target), "--encoder", str(tiny_encoder_dir)]
    steps = [{"argv": search, "out": str(tmp_path / "before.jsonl")}]
    for stage in PRE_PUBLISH:
        steps += [{"argv": index, "kill": stage},
                  {"argv": search, "out": str(tmp_path / f"{stage}.jsonl")}]
    steps += [{"update": str(new), "kill": "embedded"},
              {"argv": search, "out": str(tmp_path / "update.jsonl")},
              {"argv": index, "kill": "published"},
              {"argv": search, "out": str(tmp_path / "published.jsonl")},
              {"argv": index},
              {"argv": search, "out": str(tmp_path / "after.jsonl")}]
    results = run_driver(tmp_path, target, steps)

    before = (tmp_path / "before.jsonl").read_bytes()
    assert before.count(b"\n") == 10
    writes = results[1:-2:2]
    assert [r["status"] for r in writes] == [-9] * (len(PRE_PUBLISH) + 2)
    assert any(".tmp-" in e for e in writes[PRE_PUBLISH.index("staged")]["entries"])
    renamed = writes[PRE_PUBLISH.index("renamed")]["entries"]
    assert [e for e in renamed if e.startswith("gen-")] == ["gen-000001", "gen-000002"]
    for name in [*PRE_PUBLISH, "update"]:
        assert (tmp_path / f"{name}.jsonl").read_bytes() == before, name
    assert all(r["status"] == 0 for r in results[::2])
    # killed after switching CURRENT: the new index is live and complete
    after = (tmp_path / "after.jsonl").read_bytes()
    assert (tmp_path / "published.jsonl").read_bytes() == after != before
    assert b'"d0"' not in after and b'"d1"' not in after  # not in the new corpus
    # the run after the crashes succeeded and left nothing behind
    live = (target / "CURRENT").read_text().strip()
    assert results[-2]["entries"] == [".lock", "CURRENT", live, "manifest.json"]


def test_python_m_xenc_index_killed_before_publish(tmp_path, setup, tiny_encoder_dir):
    from xenc.index.verify import verify

    target, old, new, queries = setup
    files = {p.name: p.read_bytes() for p in (target / "gen-000001").iterdir()}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("XENC_")},
           "XENC_TEST_KILL_AT": "staged"}
    out = subprocess.run(
        [sys.executable, "-m", "xenc", "index", str(new), "--index-dir", str(target),
         "--encoder", str(tiny_encoder_dir)], capture_output=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == -9, out.stderr
    assert (target / "CURRENT").read_text() == "gen-000001\n"
    assert {p.name: p.read_bytes() for p in (target / "gen-000001").iterdir()} == files
    assert verify(target) == []
    build_index(new, target, encoder=str(tiny_encoder_dir))
    assert sorted(p.name for p in target.iterdir()) == [".lock", "CURRENT", "gen-000002",
                                                        "manifest.json"]
