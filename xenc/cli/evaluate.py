"""``xenc eval`` (merged into xenc.cli.app): an index's pipelines and any run files, measured
and compared.

Thin: it parses options, calls :func:`xenc.evaluation.pipelines.evaluate_runs` for an index's
pipelines and :func:`xenc.evaluation.comparison.compare` for a comparison, and writes the report.
A failed gate (``--max-drop``) is :class:`xenc.errors.GateFailedError`, exit 3, after
everything is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from xenc.cli.options import (
    REPLACED,
    Device,
    Output,
    QueriesFormat,
    RerankerLoader,
    ShowProgress,
    handle_errors,
    make_subapp,
    reranker_options,
    reranking_note,
    search_options,
)
from xenc.config import ENV_INDEX_DIR, SearchParams
from xenc.errors import GateFailedError, UsageError

app = make_subapp()

OptionalIndexDir = Annotated[Path | None, typer.Option(
    "--index-dir", envvar=ENV_INDEX_DIR, show_default=False,
    help="Index whose pipelines to run on --queries (first_stage, reranked).")]
Runs = Annotated[list[str] | None, typer.Option(
    "--run", show_default=False, help="NAME=FILE: a TREC run or xenc JSONL results to "
    "evaluate and compare (repeatable; no index needed).")]
Metrics = Annotated[str | None, typer.Option(
    "--metrics", show_default=False, help="Comma-separated ir_measures names: nDCG@k, R@k, RR, "
    "RR@k, AP, P@k, Judged@k (default nDCG@10,RR@10,R@100,AP).")]
Baseline = Annotated[str | None, typer.Option(
    "--baseline", show_default=False, help="The run the others are compared with (default: "
    "the first).")]
Test = Annotated[str, typer.Option(
    "--test", help="Paired significance test: t (Student) or randomization.")]
Trials = Annotated[int, typer.Option("--trials", min=1, help="Randomization test: trials.")]
Seed = Annotated[int, typer.Option("--seed", help="Randomization test: seed.")]
Correction = Annotated[str, typer.Option(
    "--correction", help="Across the compared runs: holm, bonferroni or none.")]
Alpha = Annotated[float, typer.Option(
    "--alpha", help="Significance level for the corrected p-values.")]
MaxDrop = Annotated[float | None, typer.Option(
    "--max-drop", min=0.0, show_default=False, help="Gate: exit 3 if a run is significantly "
    "worse than the baseline by more than this on any metric.")]
PerQuery = Annotated[Path | None, typer.Option(
    "--per-query", show_default=False, help="Write one JSONL record per run, query and metric.")]
Plot = Annotated[str | None, typer.Option(
    "--plot", help="FILE.png|.svg: with --run, each run's per-query delta against the "
    "baseline, sorted; else, with --sweep, quality and latency against K.")]


def _depths(sweep: str | None) -> list[int]:
    if not sweep:
        return []
    try:
        return [int(x) for x in sweep.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--sweep takes comma-separated integers, not {sweep!r}") from None


def parse_runs(values: list[str] | None) -> dict[str, str]:
    """``NAME=FILE`` options, in order."""
    runs: dict[str, str] = {}
    for value in values or []:
        name, eq, path = value.partition("=")
        if not eq or not name.strip() or not path.strip():
            raise UsageError(f"--run takes NAME=FILE, not {value!r}")
        if name.strip() in runs:
            raise UsageError(f"two runs are named {name.strip()!r}: run names must differ")
        runs[name.strip()] = path.strip()
    return runs


@app.command("eval")
@handle_errors
@reranker_options()
@search_options(k=False)
def eval_cmd(
    qrels: Annotated[str, typer.Option("--qrels", help="TREC or BEIR TSV judgments.")],
    index_dir: OptionalIndexDir = None,
    queries: Annotated[str | None, typer.Option(
        "--queries", show_default=False, help="Queries (JSONL, TSV or text), or -.")] = None,
    run: Runs = None,
    metrics: Metrics = None,
    baseline: Baseline = None,
    test: Test = "t",
    trials: Trials = 10_000,
    seed: Seed = 42,
    correction: Correction = "holm",
    alpha: Alpha = 0.05,
    max_drop: MaxDrop = None,
    per_query: PerQuery = None,
    queries_format: QueriesFormat = "auto",
    params: SearchParams = REPLACED,  # the search parameters (search_options)
    model: RerankerLoader = REPLACED,  # the cross-encoder options (reranker_options)
    sweep: Annotated[str | None, typer.Option(
        help="Rerank at each depth, e.g. 10,20,50,100.")] = None,
    device: Device = None,
    plot: Plot = None,
    output: Output = None,
    progress: ShowProgress = None,
) -> None:
    """Evaluate first stage and reranking, or compare runs: NDCG@10, recall, MRR, MAP, tests.

    With --run NAME=FILE (repeatable), or any of --metrics, --baseline, --per-query,
    --max-drop, it compares: each run (and, with --index-dir and --queries, the index's
    first_stage and reranked) against the baseline, with a paired test per metric.
    A table goes to stderr, the JSON report to stdout (or --output).

    \b
    Examples:
      xenc eval --index-dir idx --queries data/sample/queries.jsonl --qrels data/sample/qrels.tsv
      xenc eval --qrels data/sample/qrels.tsv --run mine=run.trec --index-dir idx \\
        --queries data/sample/queries.jsonl --no-rerank --max-drop 0.01
    """
    from xenc.evaluation.plot import check_plot_path

    runs = parse_runs(run)
    depths = _depths(sweep)
    comparing = bool(runs) or any(v is not None for v in (metrics, baseline, per_query,
                                                          max_drop))
    if plot:  # checked before any work: a missing matplotlib is known now, not after the eval
        if not comparing and not depths:
            raise UsageError("--plot draws the --sweep results: give --sweep too")
        check_plot_path(plot)
    pipeline = dict(index_dir=index_dir, queries=queries, qrels=qrels, params=params,
                    model=model, device=device, depths=depths, progress=progress,
                    queries_format=queries_format)
    if not comparing:
        return _evaluate_index(pipeline, plot, output)
    options = dict(baseline=baseline, test=test, correction=correction, alpha=alpha,
                   trials=trials, seed=seed, max_drop=max_drop)
    if metrics is not None:
        options["metrics"] = metrics
    _compare(runs, pipeline, options, per_query=per_query, plot=plot, output=output)


def _run_pipelines(p: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """The index's report and runs (evaluation.evaluate_runs), and the reranker used."""
    from xenc.evaluation.pipelines import evaluate_runs
    from xenc.pipeline import open_index
    from xenc.progress import bar, wants_progress

    if p["index_dir"] is None or p["queries"] is None:
        raise UsageError("give --index-dir and --queries (an index's pipelines), or --run "
                         "NAME=FILE (a run file)")
    reranker = p["model"]()
    index = open_index(p["index_dir"], device=p["device"], backend=p["model"].backend)
    with bar("evaluating", None, wants_progress(p["progress"])) as callback:
        report, runs = evaluate_runs(index, p["queries"], p["qrels"], p["params"], reranker,
                                     sweep=p["depths"], progress=callback,
                                     queries_format=p["queries_format"])
    return report, runs, reranker


def _evaluate_index(p: dict[str, Any], plot: str | None, output: Path | None) -> None:
    from xenc.io.output import write_report

    report, _, reranker = _run_pipelines(p)
    write_report(report, output)
    if plot:
        from xenc.evaluation.plot import plot_sweep
        from xenc.progress import note

        note(f"plot written to {plot_sweep(report, plot)}")
    reranking_note(reranker, p["params"].fusion)


def _compare(runs: dict[str, Any], p: dict[str, Any], options: dict[str, Any], *,
             per_query: Path | None, plot: str | None, output: Path | None) -> None:
    from xenc.evaluation.comparison import compare, gate_message
    from xenc.io.output import write_comparison
    from xenc.progress import note

    report = reranker = None
    if p["queries"] is not None or (p["index_dir"] is not None and not runs):
        from xenc.io.runs import read_run

        for path in runs.values():  # a bad run file fails now, not after the index's queries
            read_run(path)
        report, found, reranker = _run_pipelines(p)
        for name in found:
            if name in runs:
                raise UsageError(f"--run {name}=... takes the name of an index pipeline: "
                                 "name it otherwise")
        runs = {**runs, **found}
    elif p["index_dir"] is not None and os.environ.get(ENV_INDEX_DIR) != str(p["index_dir"]):
        note("Warning: --index-dir is run on --queries only: without them, only the runs "
             "are compared")
    result = compare(runs, p["qrels"], **options)
    if report is not None:
        result.report["pipeline"] = report
    write_comparison(result, output, per_query)
    if plot:
        from xenc.evaluation.plot import plot_deltas

        note(f"plot written to {plot_deltas(result, plot)}")
    if reranker is not None:
        reranking_note(reranker, p["params"].fusion)
    if not result.passed:
        raise GateFailedError(gate_message(result))
