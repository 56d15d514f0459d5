"""Token lists into model batches: the pad id, left padding (generation) and right padding (scoring, training),
position ids under left padding, and length-sorted batches that carry little padding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch

T = TypeVar("T")


def padding_id(tokenizer) -> int:
    """The id written into padded positions: PAD, else EOS, else 0 (the mask hides it either way)."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists -> (input_ids, attention_mask), both (B, T) int64, padded on the left for generation."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq):] = 1
    return ids, mask


def right_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists -> (input_ids, attention_mask), both (B, T) int64, padded on the right: every row keeps
    positions 0..n-1, so no position ids are needed."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids, mask


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) positions counted from each row's first real token, so a left-padded row sees the positions it
    would alone (pads get 0)."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive slices of at most `size` items, in order."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    return [list(items[start:start + size]) for start in range(0, len(items), size)]


def length_batches(lengths: Sequence[int], batch_size: int, *, longest_first: bool = False) -> list[list[int]]:
    """Indices into `lengths` in batches of similar length (sorted, ties in input order), so each batch pads
    little; callers put results back in the original order. `longest_first`: the biggest batch runs first."""
    order = sorted(range(len(lengths)), key=(lambda i: -lengths[i]) if longest_first else (lambda i: lengths[i]))
    return chunks(order, batch_size)
