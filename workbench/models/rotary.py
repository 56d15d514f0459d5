"""Rotary position embedding (RoPE) as Llama-style models apply it to queries and keys."""

from __future__ import annotations

import torch


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(..., d) -> (..., d): the second half negated and moved in front of the first, so q·cos + rotate_half(q)·sin
    rotates each (i, i + d/2) pair by its position's angle."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Queries or keys (..., T, d) rotated by the position angles whose cos and sin broadcast against them."""
    return x * cos + rotate_half(x) * sin
