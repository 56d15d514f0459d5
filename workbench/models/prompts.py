"""What a model reads and how its tokens are shown: the chat template, the BOS a text is conditioned on,
token ids of a text, and one readable label per token."""

from __future__ import annotations

from collections.abc import Sequence

from workbench.errors import InvalidSetting
from workbench.models.loading import LoadedModel


class NoChatTemplate(InvalidSetting):
    """Chat formatting was asked of a model whose tokenizer has no chat template."""


def chat_prompt(loaded: LoadedModel, user: str, *, system: str | None = None) -> str:
    """`user` (after an optional system message) in the model's chat template, ending with the assistant cue."""
    if not loaded.info.has_chat_template:
        raise NoChatTemplate(f"{loaded.info.name} has no chat template; turn chat off", field="chat")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def bos_ids(tokenizer, *, eos_fallback: bool = False) -> list[int]:
    """The token a text is conditioned on so its first token gets a probability: [BOS], or [] without one.

    `eos_fallback`: a tokenizer without BOS conditions on EOS instead (GPT-2 style, where both are one token)."""
    for candidate in (tokenizer.bos_token_id, tokenizer.eos_token_id if eos_fallback else None):
        if candidate is not None:
            return [int(candidate)]
    return []


def text_ids(tokenizer, text: str, *, prefix: Sequence[int] | None = None) -> list[int]:
    """Token ids of `text`: with the tokenizer's own special tokens (prefix None), or `prefix` + the bare tokens.

    Chat-formatted text passes prefix=[]: the template already holds its special tokens."""
    if prefix is None:
        return list(tokenizer(text, add_special_tokens=True)["input_ids"])
    return list(prefix) + list(tokenizer(text, add_special_tokens=False)["input_ids"])


def token_label(piece: str) -> str:
    """A decoded token made readable: a piece with leading or trailing blanks shows spaces as ␣ and line breaks
    as \\n; other pieces stay as they are."""
    if piece and piece.strip() == piece:
        return piece
    return piece.replace("\n", "\\n").replace(" ", "␣")


def token_labels(tokenizer, ids: Sequence[int]) -> list[str]:
    """One readable label per token id, each decoded on its own."""
    return [token_label(tokenizer.decode([int(i)])) for i in ids]
