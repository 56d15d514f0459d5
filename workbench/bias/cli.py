"""`workbench bias MODEL --probe NAME [--adapter DIR] [--data FILE] [--limit N]`; the probes come from the registry."""

from __future__ import annotations

import argparse

from workbench import models
from workbench.bias import BOLD_DOMAINS, PROBES, ProbeSettings, run_probe
from workbench.cli import add_model_arguments, print_json, spec_from_args, stderr_progress
from workbench.progress import no_progress


def register(subparsers) -> None:
    p = subparsers.add_parser("bias", help="run a bias probe (cached in the workspace)")
    add_model_arguments(p)
    p.add_argument("--probe", required=True, choices=list(PROBES),
                   help="; ".join(f"{name}: {probe.description}" for name, probe in PROBES.items())
                   .replace("%", "%%"))  # argparse formats help with %
    p.add_argument("--adapter", default=None, help="adapter folder or registered adapter name (default: base)")
    p.add_argument("--data", default=None, help="your own file in the benchmark's layout")
    p.add_argument("--limit", type=int, default=None,
                   help="occupations / pairs / prompts per group to score (default: all; " + ", ".join(
                       f"{name}: {probe.cli_limit}" for name, probe in PROBES.items() if probe.cli_limit) + ")")
    p.add_argument("--seed", type=int, default=0, help="which sample of pairs/prompts, and the sampling")
    p.add_argument("--domain", default="gender", choices=list(BOLD_DOMAINS), help="BOLD domain")
    p.add_argument("--max-new-tokens", type=int, default=20, help="BOLD continuation length")
    p.add_argument("--no-cache", action="store_true", help="recompute even if a cached result exists")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_bias)


def _adapter_argument(value: str | None):
    """A folder path, or the name of an adapter in the workspace registry."""
    if value is None:
        return None
    from workbench.models import adapters

    return adapters.resolve(value).path


def run_bias(args: argparse.Namespace) -> int:
    loaded = models.load(spec_from_args(args))
    limit = args.limit if args.limit is not None else PROBES[args.probe].cli_limit
    settings = ProbeSettings(limit=limit, seed=args.seed, domain=args.domain, max_new_tokens=args.max_new_tokens)
    result = run_probe(loaded, args.probe, adapter=_adapter_argument(args.adapter), data_path=args.data,
                       settings=settings, use_cache=not args.no_cache,
                       progress=no_progress if args.json else stderr_progress)
    if args.json:
        print_json({"probe": result.probe, "model": result.model, "adapter": result.adapter,
                    "data": result.data_path, "data_sha256": result.data_hash, "settings": result.settings,
                    "cached": result.cached, "seconds": result.seconds, "summary": result.summary,
                    "tables": result.tables})
        return 0
    print(f"{result.probe} on {result.model} (adapter: {result.adapter or 'none, base model'})"
          f"{' [cached]' if result.cached else ''}")
    for key, value in result.summary.items():
        print(f"  {key:<22} {value:.4g}" if isinstance(value, float) else f"  {key:<22} {value}")
    return 0
