"""Generate, then inspect: greedy generation with eager attention, keeping for each new token the attention row
that chose it (every layer and head, read from the KV-cache steps of `generate`: the sequence is never
recomputed), its top-k alternatives with probabilities and the entropy of its next-token distribution."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np
import torch

from workbench.attention.capture import encode_text
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel
from workbench.models.loading import attention_implementation
from workbench.models.prompts import token_labels

MAX_NEW_TOKENS = 512


@dataclass(frozen=True, eq=False)
class GeneratedAttention:
    """A prompt, the tokens generated after it, and per generated token what the model looked at to choose it.

    Step t chose token `prompt_len + t`; its query was the position before (`prompt_len + t - 1`)."""

    model_name: str
    text: str                 # the prompt as the model read it (chat template applied when asked)
    tokens: list[str]         # readable pieces of prompt + generated tokens
    input_ids: np.ndarray     # (T,) int64, prompt + generated
    prompt_len: int
    rows: list[np.ndarray]    # per step t: (L, H, prompt_len + t) float16, the query row over the keys it saw
    top_ids: np.ndarray       # (N, k) int64 most likely next tokens at each step
    top_probs: np.ndarray     # (N, k) float32 their probabilities
    entropy: np.ndarray       # (N,) float32 nats, of the full next-token distribution
    seconds: float

    @property
    def steps(self) -> int:
        return len(self.rows)

    def row(self, step: int, layer: int, head: int) -> np.ndarray:
        """(prompt_len + step,) float32: where the query that chose generated token `step` looked."""
        if not 0 <= step < self.steps:
            raise InvalidSetting(f"step {step} is out of range 0..{self.steps - 1}", field="step")
        return self.rows[step][layer, head].astype(np.float32)


def generate_and_inspect(loaded: LoadedModel, prompt: str, max_new_tokens: int = 32, *, chat: bool = False,
                         top_k: int = 5, stop_at_eos: bool = True) -> GeneratedAttention:
    """Greedy `generate` with eager attention and per-step attentions and logits, under the model lock
    (`stop_at_eos=False` always writes `max_new_tokens`, as a benchmark needs)."""
    if loaded.kind != "causal":
        raise InvalidSetting(f"{loaded.info.name} is an {loaded.kind} model and does not generate", field="model")
    if not 1 <= int(max_new_tokens) <= MAX_NEW_TOKENS:
        raise InvalidSetting(f"`max_new_tokens` must be 1..{MAX_NEW_TOKENS}, got {max_new_tokens}",
                             field="max_new_tokens")
    context = loaded.info.context_length or 2048
    text, ids, _ = encode_text(loaded, prompt, max_tokens=max(1, context - int(max_new_tokens)), chat=chat)
    x = torch.tensor([ids], device=loaded.device)
    started = time.perf_counter()
    with attention_implementation(loaded, "eager"), torch.inference_mode():
        out = loaded.model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=int(max_new_tokens),
                                    min_new_tokens=0 if stop_at_eos else int(max_new_tokens),
                                    do_sample=False, output_attentions=True, output_logits=True,
                                    return_dict_in_generate=True, pad_token_id=loaded.tokenizer.eos_token_id)
    seconds = time.perf_counter() - started
    rows = [torch.stack([layer[0, :, -1, :] for layer in step]).to(torch.float16).cpu().numpy()  # (L, H, keys)
            for step in out.attentions]
    logits = torch.stack([s[0] for s in out.logits]).float()                                  # (N, V)
    logp = torch.log_softmax(logits, -1)
    top = logp.topk(min(top_k, logp.shape[-1]), -1)
    sequence = out.sequences[0].cpu().numpy()
    return GeneratedAttention(
        model_name=loaded.info.name, text=text, tokens=token_labels(loaded.tokenizer, sequence.tolist()),
        input_ids=sequence, prompt_len=len(ids), rows=rows[:len(sequence) - len(ids)],
        top_ids=top.indices.cpu().numpy(), top_probs=top.values.exp().cpu().numpy(),
        entropy=-(logp.exp() * logp).nan_to_num().sum(-1).cpu().numpy(), seconds=seconds)


MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~:$])")


def highlighted_generation(g: GeneratedAttention, step: int) -> str:
    """The generated tokens as markdown, markdown-safe, with the token chosen at `step` on a red background."""
    chosen = g.prompt_len + step
    plain = [MARKDOWN_SPECIALS.sub(r"\\\1", t) for t in g.tokens[g.prompt_len:]]
    return "".join(f":red-background[{t}]" if g.prompt_len + i == chosen else t for i, t in enumerate(plain))
