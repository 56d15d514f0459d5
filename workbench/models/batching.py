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


def pack(order: Sequence[int], lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Rows taken in `order` into packs whose lengths sum to at most `capacity` (a row longer than that gets
    a pack of its own); a pack closes when the next row does not fit, so the order within the data is kept."""
    packs: list[list[int]] = []
    used = capacity + 1  # no open pack yet
    for i in order:
        if used + lengths[i] > capacity:
            packs.append([])
            used = 0
        packs[-1].append(i)
        used += lengths[i]
    return packs


def packed_rows(packs: Sequence[Sequence[tuple[Sequence[int], Sequence[int]]]], pad_id: int,
                ignore_index: int) -> dict[str, torch.Tensor]:
    """Packs of (input_ids, labels) rows -> input_ids, labels and position_ids, each (B, T), T the longest pack.

    No attention mask: with position ids that restart at 0 for every row, transformers builds a causal mask that
    keeps each row to itself (`masking_utils.find_packed_sequence_indices`). Each row's first label is ignored,
    so the token before it (the previous row's last) predicts nothing, exactly as when the rows are unpacked.
    The padding after a pack is one more sequence of its own, with ignored labels.
    """
    width = max(sum(len(ids) for ids, _ in p) for p in packs)
    input_ids = torch.full((len(packs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(packs), width), ignore_index, dtype=torch.long)
    positions = torch.zeros((len(packs), width), dtype=torch.long)
    for b, rows in enumerate(packs):
        start = 0
        for ids, row_labels in rows:
            end = start + len(ids)
            input_ids[b, start:end] = torch.tensor(ids, dtype=torch.long)
            labels[b, start + 1:end] = torch.tensor(row_labels[1:], dtype=torch.long)
            positions[b, start:end] = torch.arange(len(ids))
            start = end
        positions[b, start:] = torch.arange(width - start)
    return {"input_ids": input_ids, "labels": labels, "position_ids": positions}
