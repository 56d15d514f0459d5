"""`workbench eval MODEL DATA [--adapter DIR ...] --metrics ... --json [--per-example] [--examples-csv FILE]
[--paired-csv FILE]`."""

from __future__ import annotations

import argparse
import sys

from workbench import models
from workbench.cli import add_model_arguments, print_json, spec_from_args
from workbench.errors import InvalidSetting
from workbench.evaluate.metrics import METRICS


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a model and its adapters on an evaluation set")
    add_model_arguments(p)
    p.add_argument("data", help="evaluation set: JSONL with prompt/reference (or text) rows, or TXT")
    p.add_argument("--adapter", action="append", default=[], metavar="DIR",
                   help="adapter folder or registered name; repeat for several (the base is evaluated too)")
    p.add_argument("--no-base", action="store_true", help="evaluate only the adapters (and endpoints)")
    p.add_argument("--endpoint", action="append", default=[], metavar="URL",
                   help="an OpenAI-compatible server (up to /v1) scored beside the local models; repeatable")
    p.add_argument("--endpoint-model", action="append", default=[], metavar="NAME",
                   help="the model name each --endpoint serves, in the same order")
    p.add_argument("--api-key-env", default=None, metavar="VAR",
                   help="name of the environment variable holding the endpoints' API key (never the key)")
    p.add_argument("--metrics", default="perplexity", help=f"comma-separated: {','.join(METRICS)}")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--chat", action="store_true", help="wrap prompts in the model's chat template")
    p.add_argument("--no-bos", action="store_true", help="do not condition on the BOS token")
    p.add_argument("--max-new-tokens", type=int, default=0, help="0: longest reference + 8")
    p.add_argument("--window", type=int, default=0, help="perplexity window (0: the model's context)")
    p.add_argument("--stride", type=int, default=0, help="sliding-window stride (0: half the window)")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N examples")
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    p.add_argument("--per-example", action="store_true", help="include per-example records (with --json)")
    p.add_argument("--save", action="store_true", help="record the run in the workspace store")
    p.add_argument("--examples-csv", metavar="FILE", help="write one row per model and example (prompt, reference, "
                                                          "prediction, per-example scores) to FILE")
    p.add_argument("--paired-csv", metavar="FILE", help="write each score's difference against the first model, "
                                                        "with its paired-bootstrap interval, to FILE")
    p.set_defaults(func=run_eval)


def _adapter_path(value: str):
    from workbench.models import adapters

    return adapters.resolve(value).path


def _endpoints(args: argparse.Namespace) -> list:
    from workbench.models.endpoint import EndpointSpec

    if len(args.endpoint) != len(args.endpoint_model):
        raise InvalidSetting(f"give one --endpoint-model per --endpoint ({len(args.endpoint)} endpoints, "
                             f"{len(args.endpoint_model)} model names)", field="endpoint-model")
    return [EndpointSpec(base_url=url, model=name, api_key_env=args.api_key_env)
            for url, name in zip(args.endpoint, args.endpoint_model, strict=True)]


def _check_export_folders(args: argparse.Namespace) -> None:
    """Before the model loads: each CSV asked for goes to a folder that exists (not found after a long run)."""
    from pathlib import Path

    for name in ("examples_csv", "paired_csv"):
        target = getattr(args, name)
        if target and not Path(target).expanduser().resolve().parent.is_dir():
            raise InvalidSetting(f"the folder of {target} does not exist", field=name.replace("_", "-"))


def _write_exports(args: argparse.Namespace, report) -> None:
    """The CSV files asked for, spreadsheet-safe, as the Evaluate page's downloads."""
    from pathlib import Path

    from workbench.evaluate import history as eval_history

    for target, table in ((args.examples_csv, eval_history.report_examples),
                          (args.paired_csv, eval_history.paired_rows)):
        if target:
            text = eval_history.export_table(table(report), "csv")
            Path(target).expanduser().write_text(text, encoding="utf-8", newline="")


def run_eval(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from workbench.evaluate import history as eval_history
    from workbench.evaluate.run import EvalOptions, evaluate_models
    from workbench.evaluate.sets import check_metrics, read_eval_set

    dataset = read_eval_set(args.data)
    if args.limit:
        dataset = replace(dataset, examples=dataset.examples[:args.limit])
    metrics = [x.strip() for x in args.metrics.split(",") if x.strip()]
    check_metrics(dataset, metrics)  # before the model loads: bad input fails in a second
    _check_export_folders(args)
    options = EvalOptions(batch_size=args.batch_size, chat=args.chat, add_bos=not args.no_bos,
                          max_new_tokens=args.max_new_tokens, window=args.window, stride=args.stride)
    adapter_list = ([] if args.no_base else [None]) + [_adapter_path(a) for a in args.adapter] + \
        _endpoints(args)
    if not adapter_list:
        raise InvalidSetting("--no-base needs at least one --adapter or --endpoint", field="adapter")
    loaded = models.load(spec_from_args(args))

    def progress(fraction: float, message: str) -> None:
        if not args.json:
            print(f"[{fraction:4.0%}] {message}", file=sys.stderr)

    report = evaluate_models(loaded, adapter_list, dataset, metrics, options, progress)
    if args.save:
        eval_history.save_run(report)
    _write_exports(args, report)
    for result in report.results:
        summary = result.summary()
        if args.per_example:
            summary["examples"] = result.per_example
        if args.json:
            print_json(summary)
        else:
            scores = "  ".join(f"{k}={v:.4g} [{lo:.4g}, {hi:.4g}]" for k, v in result.scores.items()
                               for lo, hi in [result.intervals[k]])
            print(f"{result.label:<24} n={len(result.per_example)}  {scores}")
    if not args.json:
        for row in report.comparisons.itertuples():
            verdict = "clear" if row.clear else "within noise"
            print(f"{row.model} - {row.against} {row.key}: {row.difference:+.4g} "
                  f"[{row.low:+.4g}, {row.high:+.4g}] ({verdict})")
    return 0
