"""Base vs adapter: the same contribution graph and the same input attribution for the base model and for one LoRA
adapter over it, and their difference, to see what a fine-tune changed in how an answer is made.

Both runs share one loaded model (the adapter is switched on for the second pass only, `adapters.use_adapter`) and
one output: the adapter's attribution targets the token the base run resolved (its greedy token when no target is
given), so both attribute the same logit. Per component at one token the diff holds:

    base, adapter   importance (Ferrando & Voita proximity, each block's components sum to 1) in either run
    delta           adapter - base importance
    change          ‖c_adapter − c_base‖₂ / ‖c_base‖₂: how much the vector the component writes moved
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from workbench.attention import contributions as contrib
from workbench.attention.attribution import Attribution, attribute
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel, adapters

DIFF_COLUMNS = ["layer", "block", "component", "head", "base", "adapter", "delta", "change"]


@dataclass(frozen=True, eq=False)
class ContributionDiff:
    """Two traces of one text (base, adapter) and the change of every component at one token."""

    model_name: str
    adapter: str
    tokens: list[str]
    token: int
    base: contrib.ContributionTrace = field(repr=False)
    tuned: contrib.ContributionTrace = field(repr=False)
    frame: pd.DataFrame                       # one row per component (DIFF_COLUMNS); residual rows left out

    @property
    def n_layers(self) -> int:
        return self.base.n_layers

    def delta_matrix(self, value: str = "delta") -> np.ndarray:
        """(L, H + 1) `value` of each head, then the MLP, by layer: what the figure draws."""
        table = self.frame.assign(column=np.where(self.frame["block"] == "mlp", self.base.n_heads, self.frame["head"]))
        return table.pivot(index="layer", columns="column", values=value).to_numpy()

    def ranking(self, k: int = 10) -> pd.DataFrame:
        """The `k` components whose importance moved most (by |delta|)."""
        order = self.frame["delta"].abs().sort_values(ascending=False).index[:k]
        return self.frame.loc[order, ["layer", "component", "base", "adapter", "delta", "change"]]

    def graphs(self, threshold: float) -> tuple[contrib.ContributionGraph, contrib.ContributionGraph]:
        """The contribution graph of the token in either run (no forward pass)."""
        return tuple(contrib.contribution_graph(trace, self.token, threshold) for trace in (self.base, self.tuned))


def _written_vectors(trace: contrib.ContributionTrace, i: int) -> torch.Tensor:
    """(L, H + 1, D): what each head (bias left out) and the MLP write into the residual stream at token i."""
    w = trace.out_weight.view(trace.n_layers, -1, trace.n_heads, trace.head_dim)          # (L, D, H, d)
    mixed = trace.mixed[:, i].view(trace.n_layers, trace.n_heads, trace.head_dim)           # (L, H, d)
    heads = torch.einsum("lhk,ldhk->lhd", mixed, w)                                         # (L, H, D)
    return torch.cat([heads, trace.mlp_out[:, i, None]], 1)


def diff_traces(base: contrib.ContributionTrace, tuned: contrib.ContributionTrace,
                token: int | None = None) -> ContributionDiff:
    """The change of every head and MLP at `token` (None: the last) between two traces of the same text."""
    if not np.array_equal(base.input_ids, tuned.input_ids):
        raise InvalidSetting("the two traces read different tokens; trace the same text with both", field="text")
    i = contrib.check_token(base, token)
    rows = contrib.component_importance(base, i).rename(columns={"importance": "base"})
    rows["adapter"] = contrib.component_importance(tuned, i)["importance"].to_numpy()
    rows = rows[rows["component"].isin(["mlp"]) | (rows["head"] >= 0)].reset_index(drop=True)  # heads, then MLP
    b, t = _written_vectors(base, i), _written_vectors(tuned, i)                             # (L, H + 1, D)
    change = ((t - b).norm(dim=-1) / b.norm(dim=-1).clamp_min(1e-6)).numpy()                # (L, H + 1)
    rows["delta"] = rows["adapter"] - rows["base"]
    rows["change"] = [change[l, h if h >= 0 else base.n_heads] for l, h in zip(rows["layer"], rows["head"])]
    return ContributionDiff(model_name=base.model_name, adapter=tuned.adapter or adapters.BASE_CHOICE,
                            tokens=base.tokens, token=i, base=base, tuned=tuned, frame=rows[DIFF_COLUMNS])


def contribution_diff(loaded: LoadedModel, text: str, adapter, *, token: int | None = None, chat: bool = False,
                      max_tokens: int | None = None) -> ContributionDiff:
    """Trace `text` with the base model, then with `adapter` (registry name, folder or AdapterInfo; None traces
    the base twice), and diff every component at `token`."""
    info = adapters.resolve(adapter) if isinstance(adapter, str) else adapter
    base = contrib.trace_contributions(loaded, text, chat=chat, max_tokens=max_tokens)
    tuned = contrib.trace_contributions(loaded, text, adapter=info, chat=chat, max_tokens=max_tokens)
    return diff_traces(base, tuned, token)


@dataclass(frozen=True, eq=False)
class AttributionDiff:
    """One method's attribution of the same output with the base model and with the adapter."""

    base: Attribution
    tuned: Attribution

    @property
    def delta(self) -> np.ndarray:
        """(T,) adapter - base attribution of each input token."""
        return self.tuned.scores - self.base.scores

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"position": np.arange(self.base.n_tokens), "token": self.base.tokens,
                             "base": self.base.scores, "adapter": self.tuned.scores, "delta": self.delta})


def _same_token(token_id: int | None, given):
    """The token the base run resolved, as `id:N`, so the adapter attributes the same logit."""
    return given if token_id is None else f"id:{token_id}"


def attribution_diff(loaded: LoadedModel, text: str, adapter, *, target=None, contrast=None, method: str = "ig",
                     steps: int = 32, position: int | None = None, chat: bool = False,
                     max_tokens: int | None = None) -> AttributionDiff:
    """Attribute one output with the base model, then the same output (same target token) with `adapter`."""
    base = attribute(loaded, text, target=target, contrast=contrast, method=method, steps=steps, position=position,
                     chat=chat, max_tokens=max_tokens)
    tuned = attribute(loaded, text, target=_same_token(base.target_id, target),
                      contrast=_same_token(base.contrast_id, contrast), method=method, steps=steps,
                      position=position, chat=chat, max_tokens=max_tokens, adapter=adapter)
    return AttributionDiff(base=base, tuned=tuned)
