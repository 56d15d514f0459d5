"""`workbench generate PROMPT` and `workbench grid SPEC.yaml`: one generation, or a variant grid from a YAML spec
(one record per cell); both stored in the prompt-lab history unless told not to."""

from __future__ import annotations

import argparse
import sys

from workbench import models
from workbench.cli import add_model_arguments, print_json, spec_from_args, stderr_progress, to_jsonable
from workbench.progress import no_progress
from workbench.prompt_lab import history
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import EmptyPrompt, generate, generate_grid
from workbench.prompt_lab.grid import GridSpecError, read_grid_file, summarize_repeats


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="continue a prompt")
    add_model_arguments(p)
    p.add_argument("prompt")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--system", default=None, help="system prompt (with --chat)")
    add_sampling_arguments(p)
    p.add_argument("--adapter", default=None, help="adapter name in the registry, or an adapter folder")
    p.add_argument("--fast", action="store_true",
                   help="int8 copy of the base model on CPU: faster, approximate (labelled so in the history)")
    p.add_argument("--no-record", action="store_true", help="do not store the run in the prompt-lab history")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_generate)

    p = subparsers.add_parser("grid", help="run a variant grid (template x rows x parameter sets x adapters)")
    p.add_argument("spec", help="YAML file: template, rows, param_sets, adapters, endpoints, repeats, seed, chat, "
                                "models, fast")
    p.add_argument("--model", default=None, help="run on this model instead of the spec's `models`")
    add_model_arguments(p, positional=False)
    p.add_argument("--no-record", action="store_true", help="do not store the run in the prompt-lab history")
    p.add_argument("--json", action="store_true", help="one JSON record per cell, one per line")
    p.set_defaults(func=run_grid)


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """Sampling options shared by `generate` (defaults: greedy)."""
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="0 = off")
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)


def run_generate(args: argparse.Namespace) -> int:
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                            top_k=args.top_k, repetition_penalty=args.repetition_penalty)
    if not args.prompt.strip():
        raise EmptyPrompt("the prompt is empty", field="prompt")  # before the model loads
    loaded = models.load(spec_from_args(args))
    result = generate(loaded, args.prompt, params, chat=args.chat, system=args.system, seed=args.seed,
                      adapter=args.adapter, fast=args.fast)
    for warning in result.warnings + ([f"approximate output: {result.approximate}"] if result.approximate else []):
        print(f"workbench generate: warning: {warning}", file=sys.stderr)
    run_id = None if args.no_record else history.record_generation(
        loaded, result, user_prompt=args.prompt, chat=args.chat, system=args.system)
    if args.json:
        print_json({**to_jsonable(result), "run": run_id, "model": loaded.info.name})
    else:
        print(result.text)
    return 0


def run_grid(args: argparse.Namespace) -> int:
    spec, model_names = read_grid_file(args.spec)
    names = [args.model] if args.model else model_names or [models.DEFAULT_MODEL]
    for name in names:
        if not name:
            raise GridSpecError("a model name is empty", path=args.spec, field="models")
        loaded = models.load(spec_from_args(args, name=name))
        result = generate_grid(loaded, spec, progress=no_progress if args.json else stderr_progress)
        for warning in result.warnings:
            print(f"workbench grid: warning: {warning}", file=sys.stderr)
        run_id = None if args.no_record else history.record_grid(loaded, spec, result)
        for cell in result.cells:
            if args.json:
                print_json({"model": name, "run": run_id, **to_jsonable(cell)})
            else:
                print(f"[{name} · {cell.endpoint or cell.adapter or 'base'} · {cell.params} · row {cell.row} · "
                      f"repeat {cell.repeat}]"
                      f" {cell.text!r}")
        if spec.repeats > 1 and not args.json:
            for (adapter, params, row), texts in _groups(result.cells).items():
                s = summarize_repeats(texts)
                print(f"{adapter or 'base'} · {params} · row {row}: {s.distinct} distinct of {s.samples}, "
                      f"agreement {s.agreement:.0%}")
    return 0


def _groups(cells) -> dict:
    groups: dict = {}
    for c in cells:
        groups.setdefault((c.endpoint or c.adapter, c.params, c.row), []).append(c.text)
    return groups
