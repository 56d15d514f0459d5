"""`workbench compare MODEL ADAPTER TEXT --view outputs|shift|attention`: what an adapter changes, headless."""

from __future__ import annotations

import argparse

from workbench import models
from workbench.cli import add_model_arguments, print_json, spec_from_args, stderr_progress
from workbench.compare.diff import MEASURES, attention_diff, logprob_shift, side_by_side
from workbench.progress import no_progress

VIEWS = ("outputs", "shift", "attention")


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="base against an adapter: outputs, log-prob shift, attention diff")
    add_model_arguments(p)
    p.add_argument("adapter", help="registered adapter name, or an adapter folder")
    p.add_argument("text", help="the prompt (outputs, shift) or the text whose attention is compared")
    p.add_argument("--view", default="outputs", choices=VIEWS)
    p.add_argument("--chat", action="store_true", help="wrap the text in the model's chat template")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled continuations (same for both)")
    p.add_argument("--measure", default="js", choices=list(MEASURES), help="attention distance per head")
    p.add_argument("--max-tokens", type=int, default=192, help="attention: tokens of the text kept")
    p.add_argument("--top", type=int, default=10, help="attention: heads listed, most changed first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    loaded = models.load(spec_from_args(args))
    progress = no_progress if args.json else stderr_progress
    if args.view == "attention":
        diff = attention_diff(loaded, args.adapter, args.text, measure=args.measure, max_tokens=args.max_tokens,
                              chat=args.chat, progress=progress)
        ranking = diff.ranking(args.top)
        if args.json:
            print_json({"adapter": diff.adapter, "measure": diff.measure, "tokens": diff.tokens,
                        "truncated": diff.truncated, "heads": ranking})
        else:
            print(f"{MEASURES[diff.measure]} between base and {diff.adapter}, most changed heads first:")
            print(ranking.to_string(index=False))
        return 0
    sbs = side_by_side(loaded, args.adapter, args.text, chat=args.chat, max_new_tokens=args.max_new_tokens,
                       seed=args.seed, progress=progress)
    if args.view == "shift":
        shift = logprob_shift(loaded, args.adapter, sbs.tuned_greedy, source=sbs.adapter)
        if args.json:
            print_json({"adapter": sbs.adapter, "source": shift.source, "tokens": shift.table()})
        else:
            print(f"log-prob of {sbs.adapter}'s greedy output under base and adapter (shift > 0: adapter prefers it)")
            print(shift.table().round(4).to_string(index=False))
        return 0
    outputs = {"base greedy": sbs.base_greedy, f"{sbs.adapter} greedy": sbs.tuned_greedy,
               "base sampled": sbs.base_sampled, f"{sbs.adapter} sampled": sbs.tuned_sampled}
    if args.json:
        print_json({"adapter": sbs.adapter, "outputs": {k: g.text for k, g in outputs.items()}})
    else:
        for label, generation in outputs.items():
            print(f"[{label}] {generation.text!r}")
    return 0
