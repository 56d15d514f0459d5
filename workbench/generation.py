"""Text generation over a LoadedModel: chat formatting and greedy decoding."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from workbench.errors import InvalidSetting
from workbench.models import LoadedModel


class EmptyPrompt(InvalidSetting):
    """The prompt is empty or only whitespace."""


@dataclass(frozen=True)
class Generation:
    prompt: str        # the text the model saw (chat template applied when asked)
    text: str          # the new text only
    prompt_tokens: int
    new_tokens: int
    seconds: float


def format_prompt(loaded: LoadedModel, user: str, *, chat: bool = False, system: str | None = None) -> str:
    """The text the model reads: `user` as is, or wrapped in the tokenizer's chat template."""
    if not user or not user.strip():
        raise EmptyPrompt("the prompt is empty", field="prompt")
    if not chat:
        return user
    if not loaded.info.has_chat_template:
        raise InvalidSetting(f"{loaded.info.name} has no chat template; turn chat off", field="chat")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def generate_greedy(loaded: LoadedModel, prompt: str, *, max_new_tokens: int = 64, chat: bool = False,
                    system: str | None = None) -> Generation:
    """Greedy continuation of one prompt; the reference other decoders are checked against."""
    if loaded.kind != "causal":
        raise InvalidSetting(f"{loaded.info.name} is an {loaded.kind} model and cannot generate text",
                             field="model")
    if max_new_tokens < 1:
        raise InvalidSetting(f"`max_new_tokens` must be at least 1, got {max_new_tokens}", field="max_new_tokens")
    text = format_prompt(loaded, prompt, chat=chat, system=system)
    tok = loaded.tokenizer
    inputs = tok(text, return_tensors="pt", add_special_tokens=not chat).to(loaded.device)
    start = time.perf_counter()
    with loaded.lock, torch.inference_mode():
        out = loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tok.pad_token_id)
    new = out[0, inputs["input_ids"].shape[1]:]
    return Generation(prompt=text, text=tok.decode(new, skip_special_tokens=True),
                      prompt_tokens=int(inputs["input_ids"].shape[1]), new_tokens=int(new.shape[0]),
                      seconds=time.perf_counter() - start)
