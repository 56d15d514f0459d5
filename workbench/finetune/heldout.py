"""Before/after scores on a held-out file: exact match of greedy answers (causal) or accuracy (classification)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from workbench.evaluate import metrics
from workbench.finetune.data import DataError
from workbench.models import LoadedModel, ModelSpec, adapters, batching, locate
from workbench.models.prompts import text_ids


@dataclass(frozen=True)
class HeldoutScore:
    metric: str          # exact_match | accuracy
    value: float         # 0..1
    correct: int
    total: int
    adapter: str | None  # None: the base model
    examples: list[dict] = field(default_factory=list)  # prompt/text, reference, prediction
    contains: float | None = None  # causal: share whose answer contains the reference anywhere (lenient)


def _read_rows(path: Path | str, needed: tuple[str, ...]) -> list[dict]:
    rows = []
    for _n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [k for k in needed if k not in row]
        if missing:
            raise DataError(f"missing column `{missing[0]}`", path=str(path))
        rows.append(row)
    return rows


def first_line(text: str) -> str:
    """The answer a user reads: the generated text up to its first line break, stripped."""
    return text.strip().split("\n")[0].strip()


@torch.inference_mode()
def greedy_answers(loaded: LoadedModel, prompts: list[str], max_new_tokens: int = 16,
                   batch_size: int = 16) -> list[str]:
    """Greedy continuations of raw prompts, batched with left padding (same ids as one-by-one)."""
    tok = loaded.tokenizer
    pad = batching.padding_id(tok)
    out = []
    for batch in batching.chunks(prompts, batch_size):
        ids, mask = batching.left_pad([text_ids(tok, p) for p in batch], pad)
        gen = loaded.model.generate(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device),
                                    max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)  # (B, T + new)
        out += tok.batch_decode(gen[:, ids.shape[1]:], skip_special_tokens=True)
    return out


def exact_match(loaded: LoadedModel, heldout: Path | str, adapter: Path | str | None = None,
                max_new_tokens: int = 16) -> HeldoutScore:
    """Share of held-out prompts whose greedy answer (first line) equals `reference` (evaluate's exact match:
    case, punctuation and whitespace normalised)."""
    rows = _read_rows(heldout, ("prompt", "reference"))
    with adapters.use_adapter(loaded, adapter) as active:
        answers = greedy_answers(loaded, [r["prompt"] for r in rows], max_new_tokens)
    examples = [{"prompt": r["prompt"], "reference": r["reference"], "prediction": first_line(a)}
                for r, a in zip(rows, answers)]
    correct = int(sum(metrics.exact_match(e["prediction"], e["reference"]) for e in examples))
    contains = sum(e["reference"].strip() in e["prediction"] for e in examples) / len(rows)
    return HeldoutScore("exact_match", correct / len(rows), correct, len(rows), active, examples, contains)


@torch.inference_mode()
def classification_accuracy(model_name: str, heldout: Path | str, adapter: Path | str | None = None,
                            labels: list[str] | None = None, seed: int = 0) -> HeldoutScore:
    """Accuracy of the encoder classifier on text/label rows: with the adapter, or with a fresh
    (untrained) classification head as the before-training baseline."""
    import transformers
    from peft import PeftModel

    rows = _read_rows(heldout, ("text", "label"))
    source = locate(ModelSpec(model_name))
    if adapter is not None:
        info = adapters.read_adapter(adapter)
        labels = info.metadata.get("labels") or labels
    labels = labels or sorted({str(r["label"]) for r in rows})
    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=len(labels), id2label=dict(enumerate(labels)))
    if adapter is not None:
        model = PeftModel.from_pretrained(model, info.path)
    model.eval()
    tok = transformers.AutoTokenizer.from_pretrained(source)
    predictions = []
    for s in range(0, len(rows), 32):
        enc = tok([r["text"] for r in rows[s:s + 32]], return_tensors="pt", padding=True, truncation=True,
                  max_length=128)
        predictions += [labels[i] for i in model(**enc).logits.argmax(-1).tolist()]  # logits (B, labels)
    examples = [{"text": r["text"], "reference": str(r["label"]), "prediction": p} for r, p in zip(rows, predictions)]
    correct = sum(e["prediction"] == e["reference"] for e in examples)
    return HeldoutScore("accuracy", correct / len(rows), correct, len(rows),
                        None if adapter is None else info.name, examples)
