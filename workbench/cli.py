"""The `workbench` command: everything a page can do, headless. Each capability adds its subcommands in its own
`workbench/<capability>/cli.py`."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import pkgutil
import sys
from dataclasses import asdict, is_dataclass

from workbench.errors import WorkbenchError
from workbench.models import ModelSpec

CAPABILITIES = ("models", "attention", "prompt_lab", "finetune", "evaluate", "compare", "bias")


def command_modules() -> list[str]:
    """`workbench/<capability>/cli.py` for every capability package; each defines `register(subparsers)` adding
    parsers whose `func(args) -> int` runs the command. A capability adds its file, never an edit here."""
    import workbench

    root = workbench.__path__[0]
    found = {m.name for m in pkgutil.iter_modules([root]) if m.ispkg
             and importlib.util.find_spec(f"workbench.{m.name}.cli") is not None}
    ordered = [name for name in CAPABILITIES if name in found] + sorted(found - set(CAPABILITIES))
    return [f"workbench.{name}.cli" for name in ordered]


def add_model_arguments(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """The model to load and how; the same options for every subcommand that needs a model."""
    if positional:
        parser.add_argument("model", help="embedded model name, Hugging Face id, or local folder")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--allow-download", action="store_true", help="let a hub id download (off by default)")
    parser.add_argument("--trust-remote-code", action="store_true", help="run model code from the checkpoint")
    parser.add_argument("--allow-pickle", action="store_true", help="load pickle (.bin) weights")


def spec_from_args(args: argparse.Namespace, name: str | None = None, **overrides) -> ModelSpec:
    return ModelSpec(name=name or args.model, device=args.device, dtype=args.dtype,
                     allow_download=args.allow_download, trust_remote_code=args.trust_remote_code,
                     allow_pickle_weights=args.allow_pickle, **overrides)


def to_jsonable(value):
    """Dataclasses, NumPy scalars and DataFrames to plain JSON values."""
    if is_dataclass(value):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return to_jsonable(value.to_dict(orient="records"))
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def stderr_progress(fraction: float, message: str) -> None:
    """A `Progress` for the command line: one line per step on stderr, stdout stays for results."""
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr)


def print_json(value) -> None:
    json.dump(to_jsonable(value), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="LLM Workbench on the command line")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules():
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as err:
        print(f"workbench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"workbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
