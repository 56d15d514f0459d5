"""One way to score tokens with a causal LM: log p(token_t | tokens_<t) for the scored part of each sequence
(`sequence_logprobs`, batched with right padding), and the next-token logits of one sequence for views that
need whole distributions (`next_token_logits`).

Functions take the model, not a LoadedModel, so tests can hand in a tiny one; callers hold `loaded.lock`.
The LM head runs only on positions whose prediction is wanted, in chunks, and the log-softmax is taken in
float32: a batch never holds (B, T, vocab) float32 logits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from workbench.models.batching import length_batches, right_pad
from workbench.progress import Progress, no_progress

LM_HEAD_CHUNK = 1024  # positions per LM-head call: bounds the (positions, vocab) float32 block in memory


def _language_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers causal LM itself: a PeftModel wraps it (its LoRA layers stay injected and active)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _head_logits(lm: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """(N, d) final hidden states -> (N, vocab) float32 logits, as the model's own forward computes them."""
    logits = lm.get_output_embeddings()(hidden)  # model dtype, like `model(...).logits`
    cap = getattr(lm.config, "final_logit_softcapping", None)  # Gemma 2/3 squash logits after the head
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits.float()


def target_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) under each row's distribution: (N, vocab) logits, (N,) ids -> (N,) float32."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None])[..., 0]


def _scored_logprobs(lm: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                     predict: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of token t + 1 wherever `predict` (B, T - 1) is true at t, row-major, (M,) float32."""
    hidden = lm.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, d)
    rows, cols = predict.nonzero(as_tuple=True)  # position t predicts token t + 1
    targets = ids[rows, cols + 1]  # (M,)
    picked = [target_logprobs(_head_logits(lm, hidden[rows[s:s + LM_HEAD_CHUNK], cols[s:s + LM_HEAD_CHUNK]]),
                              targets[s:s + LM_HEAD_CHUNK])  # (chunk,)
              for s in range(0, rows.numel(), LM_HEAD_CHUNK)]
    return torch.cat(picked) if picked else torch.zeros(0)


def sequence_logprobs(model: torch.nn.Module, sequences: Sequence[Sequence[int]],
                      score_from: int | Sequence[int] = 1, *, batch_size: int = 8, pad_id: int = 0,
                      progress: Progress = no_progress) -> list[np.ndarray]:
    """log p(token_t | tokens_<t) in nats for every t >= score_from of each sequence: one (len - score_from,)
    float64 array per sequence (empty when nothing is scored), values computed in float32.

    Sequences are scored exactly as given (prepend BOS yourself, see `prompts.bos_ids`). Right padding with an
    attention mask keeps every row at positions 0..n-1 and pads are never scored, so a sequence scores the same
    alone or in any batch (lm-evaluation-harness #704). Batches are length-sorted, longest first."""
    starts = [score_from] * len(sequences) if isinstance(score_from, int) else [int(s) for s in score_from]
    if len(starts) != len(sequences):
        raise ValueError(f"score_from has {len(starts)} entries for {len(sequences)} sequences")
    if any(s < 1 for s in starts):
        raise ValueError("score_from must be at least 1: nothing before position 0 predicts it")
    out = [np.zeros(0) for _ in sequences]
    todo = [i for i, seq in enumerate(sequences) if starts[i] < len(seq)]
    lm = _language_model(model)
    device = next(lm.parameters()).device
    done = 0
    for batch in length_batches([len(sequences[i]) for i in todo], batch_size, longest_first=True):
        rows = [todo[j] for j in batch]
        ids, mask = right_pad([sequences[i] for i in rows], pad_id)  # (B, T)
        predict = torch.zeros((len(rows), ids.shape[1] - 1), dtype=torch.bool)  # (B, T - 1): t predicts t + 1
        for row, i in enumerate(rows):
            predict[row, starts[i] - 1:len(sequences[i]) - 1] = True
        with torch.inference_mode():
            logp = _scored_logprobs(lm, ids.to(device), mask.to(device), predict.to(device))
        logp = logp.double().cpu().numpy()  # (M,)
        for i, part in zip(rows, np.split(logp, np.cumsum(predict.sum(1).numpy())[:-1])):
            out[i] = part
        done += len(rows)
        progress(done / len(todo), f"scored {done}/{len(todo)}")
    return out


def next_token_logits(model: torch.nn.Module, ids: Sequence[int], *, start: int = 0) -> torch.Tensor:
    """Next-token logits at positions start..T-1 of one unpadded sequence, (T - start, vocab) float32 (row k:
    the distribution of token start + k + 1); the LM head runs only on those positions."""
    if not ids:
        raise ValueError("there are no tokens to run")
    lm = _language_model(model)
    x = torch.tensor([list(ids)], device=next(lm.parameters()).device)  # (1, T)
    with torch.inference_mode():
        hidden = lm.base_model(input_ids=x).last_hidden_state[0, start:]  # (T - start, d)
        return _head_logits(lm, hidden)
