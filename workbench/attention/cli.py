"""`workbench attention MODEL (TEXT | --file PATH) [--layer L] [--head H] [--out maps.npz] [--stats] [--estimate]
[--generate N] [--json]` and
`workbench contributions MODEL TEXT --token N [--threshold X] [--adapter A [--versus-base]] [--json]` and
`workbench attribute MODEL PROMPT [--target T] [--contrast T] [--method ig|gxi|occlusion] [--steps N]
[--adapter A [--versus-base]] [--json]`; `--versus-base` runs the same request with the base model and the adapter
and prints both and their difference (workbench.attention.adapter_diff)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import models
from workbench.attention.capture import capture_attention, check_head, check_layers, encode_text, head_statistics
from workbench.cli import add_model_arguments, print_json, spec_from_args
from workbench.errors import InvalidSetting


def register(subparsers) -> None:
    p = subparsers.add_parser("attention", help="capture attention maps and head statistics")
    add_model_arguments(p)
    p.add_argument("text", nargs="?", default=None, help="the text to look at (or --file)")
    p.add_argument("--file", type=Path, default=None, help="read the text from this UTF-8 file instead")
    p.add_argument("--layer", type=int, action="append", help="layer index (repeat for more; default: all)")
    p.add_argument("--head", type=int, default=None, help="only this head (default: all)")
    p.add_argument("--out", type=Path, default=None, help="write float16 maps, tokens and ids to this .npz")
    p.add_argument("--stats", action="store_true", help="head statistics (entropy, distance, shares, kind)")
    p.add_argument("--json", action="store_true", help="print JSON (one record per layer and head with --stats)")
    p.add_argument("--chat", action="store_true", help="wrap the text in the model's chat template")
    p.add_argument("--max-tokens", type=int, default=None, help="cut the text to this many tokens")
    p.add_argument("--estimate", action="store_true", help="print the time and memory estimate and stop")
    p.add_argument("--generate", type=int, default=None, metavar="N",
                   help="generate N tokens greedily from the text, then give each new token's attention row "
                        "(the picked layers and heads), top-5 alternatives and entropy")
    p.set_defaults(func=run_attention)
    register_contributions(subparsers)
    register_attribute(subparsers)


def register_attribute(subparsers) -> None:
    from workbench.attention.attribution import METHODS

    p = subparsers.add_parser("attribute", help="attribute one output token (or a contrast) to the input tokens")
    add_model_arguments(p)
    p.add_argument("prompt", help="the text the model reads")
    p.add_argument("--target", default=None, help="the output token (causal; `id:N` for an id; default: the greedy "
                                                  "next token) or text (encoder: cosine similarity to it)")
    p.add_argument("--contrast", default=None, help="attribute logit(target) - logit(contrast) instead")
    p.add_argument("--method", default="ig", choices=list(METHODS), help="ig, gxi (gradient x input) or occlusion")
    p.add_argument("--steps", type=int, default=32, help="integrated-gradients steps")
    p.add_argument("--position", type=int, default=None, help="causal: attribute this position's next-token "
                                                              "logits (default: the last token)")
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--adapter", default=None, help="a registered LoRA adapter (name or folder) to apply")
    p.add_argument("--panel", action="store_true", help="the faithfulness panel: rollout and every method, with "
                                                         "Spearman correlations and a disagreement flag")
    p.add_argument("--versus-base", action="store_true", help="with --adapter: attribute the same output with the "
                                                               "base model too, and print both and their difference")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_attribute)


def _check_out(path: Path | None) -> None:
    if path is None:
        return
    if path.suffix != ".npz":
        raise InvalidSetting(f"the output file must end in .npz, got {path.name!r}", path=str(path), field="out")
    if not path.parent.exists():
        raise InvalidSetting("the folder for the output file does not exist", path=str(path.parent), field="out")


def run_generated(args: argparse.Namespace, loaded) -> int:
    """One record per generated token: the token, its alternatives, entropy and attention rows."""
    from workbench.attention.generated import generate_and_inspect
    from workbench.models.prompts import token_labels

    layers = check_layers(loaded.info.layers, args.layer)
    heads = [check_head(loaded.info.heads, args.head)] if args.head is not None else list(range(loaded.info.heads))
    g = generate_and_inspect(loaded, args.text, args.generate, chat=args.chat)
    for step in range(g.steps):
        position = g.prompt_len + step
        record = {"step": step, "position": position, "token": g.tokens[position],
                  "alternatives": [{"token": t, "p": round(float(p), 6)} for t, p in
                                   zip(token_labels(loaded.tokenizer, g.top_ids[step].tolist()), g.top_probs[step])],
                  "entropy": round(float(g.entropy[step]), 6)}
        if args.json:
            rows = g.rows[step][np.ix_(layers, heads)].astype(np.float32)            # (layers, heads, keys)
            print_json({**record, "layers": layers, "heads": heads, "keys": g.tokens[:position],
                        "rows": np.round(rows, 5)})
        else:
            top = ", ".join(f"{a['token']} {a['p']:.3f}" for a in record["alternatives"])
            print(f"step {step} {record['token']!r}: entropy {record['entropy']:.3f} nats; top: {top}")
    return 0


def _show_estimate(args: argparse.Namespace, loaded, kept_layers: int, every_layer: bool) -> bool:
    """Print the estimate (stdout with --estimate, else stderr when it is long or too big); True: stop here."""
    from workbench.attention.estimate import CaptureRequest, available_memory, estimate

    _, ids, _ = encode_text(loaded, args.text, max_tokens=args.max_tokens, chat=args.chat)
    guess = estimate(loaded.info, len(ids), CaptureRequest(kept_layers, every_layer), available=available_memory())
    if args.estimate:
        if args.json:
            print_json({"tokens": len(ids), **guess.to_dict()})
        else:
            print(f"{len(ids)} tokens. {guess.plan}")
        return True
    if guess.seconds > 10 or not guess.fits:
        print(f"workbench attention: {len(ids)} tokens. {guess.plan}", file=sys.stderr)
    return False


def _read_text(args: argparse.Namespace) -> None:
    """Put the text to look at in `args.text`: the argument, or the file's contents (exactly one of them)."""
    if (args.text is None) == (args.file is None):
        raise InvalidSetting("give the text to look at either as an argument or with --file, not "
                             + ("both" if args.file is not None else "neither"), field="text")
    if args.file is not None:
        try:
            args.text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InvalidSetting(f"cannot read the text file: {err}", path=str(args.file), field="file") from None


def _with_distances_and_sinks(stats: pd.DataFrame, cap) -> pd.DataFrame:
    """The statistics with each head's distance histogram ({bin: share}) and its strongest key (position, token,
    share, and whether that makes it a sink), from the same pass: no full map."""
    from workbench.attention import sinks
    from workbench.attention.distances import bin_labels, distance_edges

    bins = bin_labels(distance_edges(cap.n_tokens))
    share, keys = sinks.strongest_keys(cap)                                  # (L, H) each
    layer, head = stats["layer"].to_numpy(), stats["head"].to_numpy()
    histograms = np.round(cap.distances[layer, head] / cap.n_tokens, 6)     # (rows, bins)
    return stats.assign(distance=[dict(zip(bins, h.tolist())) for h in histograms], top_key=keys[layer, head],
                        top_key_token=[cap.tokens[k] for k in keys[layer, head]],
                        top_key_share=share[layer, head], sink=share[layer, head] >= sinks.SINK_MIN_SHARE)


def run_attention(args: argparse.Namespace) -> int:
    _read_text(args)
    _check_out(args.out)
    loaded = models.load(spec_from_args(args))
    if args.generate is not None:
        return run_generated(args, loaded)
    layers = check_layers(loaded.info.layers, args.layer)
    if args.head is not None:
        check_head(loaded.info.heads, args.head)
    every_layer = args.stats and args.layer is None and args.out is None
    if _show_estimate(args, loaded, 0 if every_layer else len(layers), every_layer):
        return 0
    # With --stats over every layer, statistics come from the pass itself: no full maps of 30 layers kept.
    cap = capture_attention(loaded, args.text, [] if every_layer else layers, chat=args.chat,
                            max_tokens=args.max_tokens, all_statistics=every_layer)
    if cap.truncated:
        print(f"workbench attention: warning: the text has {cap.original_tokens} tokens; using the first "
              f"{cap.n_tokens} (context or --max-tokens)", file=sys.stderr)
    heads = [args.head] if args.head is not None else list(range(cap.n_heads))
    if args.out is not None:
        np.savez_compressed(args.out, pattern=cap.pattern[:, heads], layers=np.asarray(cap.layers),
                            heads=np.asarray(heads), tokens=np.asarray(cap.tokens), input_ids=cap.input_ids,
                            truncated=cap.truncated, model=cap.model_name, kind=cap.kind)
        print(f"wrote {args.out}: pattern (layers {len(cap.layers)}, heads {len(heads)}, {cap.n_tokens} x "
              f"{cap.n_tokens}) float16", file=sys.stderr if args.json else sys.stdout)
    if args.stats:
        stats = head_statistics(cap)
        if args.json and cap.distances is not None:
            stats = _with_distances_and_sinks(stats, cap)
        stats = stats[stats["head"].isin(heads)]
        if args.json:
            print_json(stats.round(6))
        else:
            print(stats.round(3).to_string(index=False))
        return 0
    if args.json:
        print_json({"model": cap.model_name, "kind": cap.kind, "tokens": cap.tokens, "layers": cap.layers,
                    "heads": heads, "truncated": cap.truncated,
                    "pattern": np.round(cap.pattern[:, heads].astype(np.float32), 5)})
        return 0
    if args.out is None:
        for li, layer in enumerate(cap.layers):
            for head in heads:
                top = cap.pattern[li, head].astype(np.float32).argmax(-1)  # (T,) key each query attends most
                pairs = ", ".join(f"{cap.tokens[q]}->{cap.tokens[k]}" for q, k in enumerate(top))
                print(f"layer {layer} head {head}: {pairs}")
    return 0


def register_contributions(subparsers) -> None:
    from workbench.attention.contributions import DEFAULT_THRESHOLD

    p = subparsers.add_parser("contributions", help="contribution graph of one token (information-flow routes)")
    add_model_arguments(p)
    p.add_argument("text", help="the text to look at")
    p.add_argument("--token", type=int, default=None, metavar="N",
                   help="token position the graph starts from (negative: from the end; default: the last)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"keep edges above this share of a block's output (default {DEFAULT_THRESHOLD})")
    p.add_argument("--adapter", default=None, help="registered adapter name or folder, active during the pass")
    p.add_argument("--chat", action="store_true", help="wrap the text in the model's chat template")
    p.add_argument("--max-tokens", type=int, default=None, help="cut the text to this many tokens")
    p.add_argument("--versus-base", action="store_true", help="with --adapter: trace the base model too and print "
                                                               "how every head's and MLP's importance changed")
    p.add_argument("--top", type=int, default=10, help="with --versus-base: the components that moved most")
    p.add_argument("--json", action="store_true", help="print nodes, edges and component importances as JSON")
    p.set_defaults(func=run_contributions)


def _check_versus_base(args: argparse.Namespace) -> None:
    if args.versus_base and not args.adapter:
        raise InvalidSetting("--versus-base compares the base model with an adapter: give one with --adapter",
                             field="adapter")
    if args.versus_base and getattr(args, "panel", False):
        raise InvalidSetting("--versus-base and --panel cannot be combined: pick one", field="versus_base")


def run_contributions_diff(args: argparse.Namespace, loaded) -> int:
    """`contributions --adapter A --versus-base`: each component's importance at the token, base vs adapter."""
    from workbench.attention.adapter_diff import contribution_diff

    if args.top < 1:
        raise InvalidSetting(f"--top must be at least 1, got {args.top}", field="top")
    diff = contribution_diff(loaded, args.text, args.adapter, token=args.token, chat=args.chat,
                             max_tokens=args.max_tokens)
    ranking = diff.ranking(args.top)
    if args.json:
        print_json({"model": diff.model_name, "adapter": diff.adapter, "tokens": diff.tokens, "token": diff.token,
                    "top": ranking.round(6), "components": diff.frame.round(6)})
        return 0
    print(f"{diff.model_name} vs {diff.adapter} at token {diff.token} {diff.tokens[diff.token]!r}: "
          f"the {len(ranking)} components whose importance moved most")
    print(ranking.round(4).to_string(index=False))
    return 0


def run_contributions(args: argparse.Namespace) -> int:
    from workbench.attention.contributions import (
        check_threshold,
        component_importance,
        contribution_graph,
        trace_contributions,
    )

    check_threshold(args.threshold)
    _check_versus_base(args)
    loaded = models.load(spec_from_args(args))
    if args.versus_base:
        return run_contributions_diff(args, loaded)
    trace = trace_contributions(loaded, args.text, adapter=args.adapter, chat=args.chat, max_tokens=args.max_tokens)
    graph = contribution_graph(trace, args.token, args.threshold)
    edges = graph.to_frame()
    if args.json:
        print_json({"model": graph.model_name, "adapter": graph.adapter, "tokens": graph.tokens,
                    "token": graph.token, "threshold": graph.threshold, "n_layers": graph.n_layers,
                    "nodes": graph.nodes_frame(), "edges": edges.round(6),
                    "importance": component_importance(trace, graph.token).round(6)})
        return 0
    print(f"{graph.model_name}: {len(graph.edges)} edges above {graph.threshold} into token {graph.token} "
          f"{graph.tokens[graph.token]!r}")
    for edge in edges.itertuples():
        what = f"head {edge.head}" if edge.kind == "head" else edge.kind
        print(f"layer {edge.layer} {edge.block} {what}: {edge.source} {edge.source_token} -> {edge.target} "
              f"{edge.target_token}  {edge.importance:.3f}")
def run_attribute_diff(args: argparse.Namespace, loaded) -> int:
    """`attribute --adapter A --versus-base`: the same output attributed with the base and with the adapter."""
    from workbench.attention.adapter_diff import attribution_diff

    diff = attribution_diff(loaded, args.prompt, args.adapter, target=args.target, contrast=args.contrast,
                            method=args.method, steps=args.steps, position=args.position, chat=args.chat)
    frame = diff.to_frame()
    if args.json:
        print_json({"model_name": diff.base.model_name, "adapter": diff.tuned.adapter, "method": diff.base.method,
                    "output": diff.base.output, "target_id": diff.base.target_id,
                    "contrast_id": diff.base.contrast_id, "base_value": diff.base.value,
                    "adapter_value": diff.tuned.value, "tokens": frame.round(6)})
        return 0
    print(f"{diff.base.method} of {diff.base.output}: f = {diff.base.value:.4f} with the base, "
          f"{diff.tuned.value:.4f} with {diff.tuned.adapter}")
    print(frame.round(4).to_string(index=False))
    return 0


def run_attribute(args: argparse.Namespace) -> int:
    from workbench.attention import attribution

    _check_versus_base(args)
    loaded = models.load(spec_from_args(args))
    if args.versus_base:
        attribution.check_method(args.method, args.steps)
        return run_attribute_diff(args, loaded)
    options = {"target": args.target, "contrast": args.contrast, "steps": args.steps, "position": args.position,
               "chat": args.chat, "adapter": args.adapter}
    if args.panel:
        attribution.check_method(args.method, args.steps)
        panel = attribution.faithfulness(loaded, args.prompt, **options)
        result, frame = panel.attributions[args.method], panel.to_frame()
    else:
        result = attribution.attribute(loaded, args.prompt, method=args.method, **options)
        panel, frame = None, result.to_frame()
    if args.json:
        record = {k: getattr(result, k) for k in ("model_name", "kind", "output", "method", "position", "target",
                                                 "target_id", "contrast", "contrast_id", "value", "baseline_value",
                                                 "steps", "adapter")}
        record["delta"] = None if np.isnan(result.delta) else result.delta
        record["tokens"] = frame.round(6)
        if panel is not None:
            record.update(correlations=panel.correlations.round(4).to_dict(), disagree=panel.disagree,
                          message=panel.message)
        print_json(record)
        return 0
    print(f"{result.method} of {result.output} (f = {result.value:.4f}, baseline {result.baseline_value:.4f})")
    print(frame.round(4).to_string(index=False))
    if panel is not None:
        print(panel.correlations.round(2).to_string())
        print(panel.message)
    return 0
