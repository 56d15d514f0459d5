"""`workbench grid SPEC.yaml`: a variant grid from a YAML spec, one record per cell."""

from __future__ import annotations

import argparse
import sys

from workbench import experiments, models
from workbench.cli import add_model_arguments, print_json, spec_from_args, to_jsonable
from workbench.generation import generate_grid
from workbench.grid_spec import GridSpecError, read_grid_file, summarize_repeats


def register(subparsers) -> None:
    p = subparsers.add_parser("grid", help="run a variant grid (template x rows x parameter sets x adapters)")
    p.add_argument("spec", help="YAML file: template, rows, param_sets, adapters, repeats, seed, chat, models")
    p.add_argument("--model", default=None, help="run on this model instead of the spec's `models`")
    add_model_arguments(p, positional=False)
    p.add_argument("--no-record", action="store_true", help="do not store the run in the prompt-lab history")
    p.add_argument("--json", action="store_true", help="one JSON record per cell, one per line")
    p.set_defaults(func=run_grid)


def _stderr_progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr)


def run_grid(args: argparse.Namespace) -> int:
    spec, model_names = read_grid_file(args.spec)
    names = [args.model] if args.model else model_names or [models.DEFAULT_MODEL]
    for name in names:
        if not name:
            raise GridSpecError("a model name is empty", path=args.spec, field="models")
        loaded = models.load(spec_from_args(args, name=name))
        result = generate_grid(loaded, spec, progress=None if args.json else _stderr_progress)
        for warning in result.warnings:
            print(f"workbench grid: warning: {warning}", file=sys.stderr)
        run_id = None if args.no_record else experiments.record_grid(loaded, spec, result)
        for cell in result.cells:
            if args.json:
                print_json({"model": name, "run": run_id, **to_jsonable(cell)})
            else:
                print(f"[{name} · {cell.adapter or 'base'} · {cell.params} · row {cell.row} · repeat {cell.repeat}]"
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
        groups.setdefault((c.adapter, c.params, c.row), []).append(c.text)
    return groups
