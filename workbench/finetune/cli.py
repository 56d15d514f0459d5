"""`workbench finetune | jobs | finetune-score`: LoRA runs in the foreground, background jobs, held-out scores."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from workbench.cli import print_json
from workbench.finetune.config import LoraRunConfig
from workbench.finetune.data import DataError, read_dataset

FORM_SKIP = {"model", "data", "adapter_name"}  # positional or named differently on the command line


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per LoraRunConfig field, help text taken from the field."""
    for f in dataclasses.fields(LoraRunConfig):
        if f.name in FORM_SKIP:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f.metadata.get("help", "") + f" (default: {default})"
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
        elif isinstance(default, list):
            parser.add_argument(flag, dest=f.name, default="", help=help_text + "; comma-separated")
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=default, help=help_text)


def config_from_args(args: argparse.Namespace) -> LoraRunConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(LoraRunConfig) if f.name not in FORM_SKIP}
    return LoraRunConfig(model=args.model, data=str(Path(args.data).resolve()), adapter_name=args.name or "",
                         **values)


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="LoRA fine-tune in the foreground, with a progress bar")
    p.add_argument("model", help="base model: embedded name, Hugging Face id or local folder")
    p.add_argument("data", help="training file: JSONL, CSV or TXT")
    p.add_argument("--out", required=True, help="run folder: config, metrics, checkpoints, adapter/")
    p.add_argument("--name", default="", help="also register the adapter in the workspace under this name")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_config_arguments(p)
    p.set_defaults(func=run_finetune)

    p = subparsers.add_parser("jobs", help="list background fine-tuning jobs, or stop/resume/continue one")
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "stop", "resume", "continue"])
    p.add_argument("job", nargs="?", help="job id (for show/stop/resume/continue)")
    p.add_argument("--steps", type=int, default=50, help="more steps (continue)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_jobs)

    p = subparsers.add_parser("finetune-score", help="held-out exact match (causal) or accuracy (classification)")
    p.add_argument("model", help="base model")
    p.add_argument("heldout", help="JSONL with prompt/reference (causal) or text/label (classification)")
    p.add_argument("--adapter", default=None, help="adapter folder or registered name; omit for the base model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_score)


def _print_row_errors(err: DataError) -> None:
    for row_error in err.errors:
        print(f"{err.path}: {row_error}", file=sys.stderr)


def _progress_bar(record: dict) -> None:
    if record["kind"] == "eval":
        print(f"\n  step {record['step']}: validation loss {record['val_loss']:.4f}", file=sys.stderr)
        return
    done, total = record["step"], record["max_steps"]
    bar = "#" * int(30 * done / total)
    print(f"\r[{bar:<30}] {done}/{total} loss {record['loss']:.4f} lr {record['lr']:.2e} "
          f"{record['tokens_per_s']:.0f} tok/s ETA {record['eta_s']:.0f}s", end="", file=sys.stderr, flush=True)


def run_finetune(args: argparse.Namespace) -> int:
    from workbench.finetune import train

    config = config_from_args(args)
    try:
        read_dataset(config.data, task=config.task).raise_for_errors()  # fast check before loading a model
    except DataError as err:
        _print_row_errors(err)
        raise DataError(f"{len(err.errors)} bad row(s), listed above; nothing was trained",
                        path=err.path) from None
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(config.to_json())
    start = time.time()
    try:
        result = train.train(out, on_record=None if args.json else _progress_bar)
    except DataError as err:
        _print_row_errors(err)
        raise
    if args.json:
        print_json({**dataclasses.asdict(result), "adapter_path": str(result.adapter_path),
                    "seconds": time.time() - start})
    else:
        print(f"\n{result.status}: {result.steps} steps in {time.time() - start:.0f} s, "
              f"train loss {result.train_loss:.4f}, adapter {result.adapter_path}", file=sys.stderr)
    return 0


def run_jobs(args: argparse.Namespace) -> int:
    from workbench.finetune import jobs

    if args.action != "list" and not args.job:
        raise jobs.JobError(f"`workbench jobs {args.action}` needs a job id", field="job")
    actions = {"show": lambda: jobs.job(args.job), "stop": lambda: jobs.stop(args.job),
               "resume": lambda: jobs.resume(args.job),
               "continue": lambda: jobs.continue_run(args.job, args.steps)}
    if args.action != "list":
        row = actions[args.action]()
        print_json(row) if args.json else print(f"{row['id']}  {row['status']}  {row['message']}")
        return 0
    rows = jobs.list_jobs()
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        print(f"{r['id']:<24} {r['status']:<8} {r['step']:>5}/{r['max_steps']:<5} {r['adapter']:<24} "
              f"{r['message']}")
    if not rows:
        print("no jobs yet", file=sys.stderr)
    return 0


def run_score(args: argparse.Namespace) -> int:
    from workbench import models
    from workbench.finetune import heldout
    from workbench.models import adapters

    adapter = adapters.resolve(args.adapter).path if args.adapter else None
    if models.EMBEDDED.get(args.model) and models.EMBEDDED[args.model].kind == "encoder":
        score = heldout.classification_accuracy(args.model, args.heldout, adapter)
    else:
        from workbench.finetune.config import configure_cpu_threads
        configure_cpu_threads()
        score = heldout.exact_match(models.load(models.ModelSpec(args.model)), args.heldout, adapter)
    if args.json:
        print_json(score)
    else:
        print(f"{score.metric} {score.value:.1%} ({score.correct}/{score.total}) "
              f"with {score.adapter or 'the base model'}"
              + (f"; answer contains the reference: {score.contains:.1%}" if score.contains is not None else ""))
    return 0
