"""Evaluation sets: JSONL `prompt`/`reference` rows or `text` rows, or TXT (texts separated by blank lines),
read with errors that name the file, line and field."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from workbench import workspace
from workbench.errors import WorkbenchError
from workbench.evaluate.metrics import METRICS


class EvalSetError(WorkbenchError):
    """An evaluation set is empty, malformed, or lacks a field a chosen metric needs."""


@dataclass(frozen=True)
class EvalExample:
    """One row: a prompt with its reference answer, or a plain text (perplexity only)."""

    line: int  # 1-based line in the file where the row starts
    prompt: str | None = None
    reference: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: str  # where it came from (a file path, or the upload's name)
    examples: tuple[EvalExample, ...]
    sha256: str = field(default="", compare=False)

    @property
    def kind(self) -> str:
        """`reference` when rows carry prompts, `text` when they carry plain texts."""
        return "text" if self.examples and self.examples[0].text is not None else "reference"

    def __len__(self) -> int:
        return len(self.examples)


def _field(row: dict, name: str, path: str, line: int) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EvalSetError(f"must be a string, got {type(value).__name__}", path=path, line=line, field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # JSON can spell a lone surrogate (\ud800) that no tokenizer can take
        raise EvalSetError("holds an unpaired surrogate escape, not text", path=path, line=line, field=name) from None
    return value


def parse_jsonl(content: str, path: str) -> list[EvalExample]:
    examples = []
    for line, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as err:
            raise EvalSetError(f"not valid JSON ({err.msg} at column {err.colno})", path=path, line=line) from err
        except (ValueError, RecursionError) as err:  # an integer over 4,300 digits; nesting too deep
            raise EvalSetError(f"not usable JSON ({err})", path=path, line=line) from None
        if not isinstance(row, dict):
            raise EvalSetError("each line must be a JSON object", path=path, line=line)
        prompt, reference, text = (_field(row, k, path, line) for k in ("prompt", "reference", "text"))
        if text is None and prompt is None:
            raise EvalSetError("missing: give `prompt` (with `reference`) or `text`", path=path, line=line,
                               field="prompt")
        if text is not None and prompt is not None:
            raise EvalSetError("give either `text` or `prompt`, not both", path=path, line=line, field="text")
        if text is not None and not text.strip():
            raise EvalSetError("is empty", path=path, line=line, field="text")
        if prompt is not None and not prompt.strip():
            raise EvalSetError("is empty", path=path, line=line, field="prompt")
        examples.append(EvalExample(line, prompt, reference, text))
    kinds = {e.text is None for e in examples}
    if len(kinds) > 1:
        first_text = next(e for e in examples if e.text is not None)
        raise EvalSetError("mixes `text` rows with `prompt` rows; use one kind per file", path=path,
                           line=first_text.line, field="text")
    return examples


def parse_txt(content: str) -> list[EvalExample]:
    """Texts separated by one or more blank lines; each keeps the line it starts on."""
    examples, lines, start = [], [], 0
    for number, raw in enumerate(content.splitlines() + [""], start=1):
        if raw.strip():
            if not lines:
                start = number
            lines.append(raw)
        elif lines:
            examples.append(EvalExample(start, text="\n".join(lines)))
            lines = []
    return examples


def parse_eval_set(content: str, name: str, path: str | None = None) -> EvalSet:
    """An evaluation set from file contents; the format follows the name's suffix (.jsonl or .txt)."""
    path = path or name
    suffix = Path(name).suffix.lower()
    if suffix in (".jsonl", ".json"):
        examples = parse_jsonl(content, path)
    elif suffix == ".txt":
        examples = parse_txt(content)
    else:
        raise EvalSetError(f"unsupported file type {suffix or '(none)'!r}: use .jsonl or .txt", path=path)
    if not examples:
        raise EvalSetError("the evaluation set is empty", path=path)
    sha = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
    return EvalSet(name=Path(name).stem, path=path, examples=tuple(examples), sha256=sha)


def read_eval_set(path: Path | str) -> EvalSet:
    path = Path(path).expanduser()
    if not path.is_file():
        raise EvalSetError("no such file", path=str(path))
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[:err.start].count(b"\n") + 1
        raise EvalSetError(f"not UTF-8 text ({err.reason} at byte {err.start})", path=str(path), line=line) from None
    return parse_eval_set(content, path.name, str(path))


def check_metrics(dataset: EvalSet, metrics: list[str]) -> None:
    """Refuse metrics the set cannot support, naming the first row that lacks what they need."""
    if not metrics:
        raise EvalSetError("choose at least one metric", field="metrics")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise EvalSetError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}", field="metrics")
    needs_reference = [m for m in metrics if METRICS[m].needs_reference]
    if not needs_reference:
        for e in dataset.examples:
            if e.text is None and e.reference is None:
                raise EvalSetError(f"{metrics[0]} on a prompt set scores the reference; this row has none",
                                   path=dataset.path, line=e.line, field="reference")
        return
    for e in dataset.examples:
        if e.text is not None:
            raise EvalSetError(f"{needs_reference[0]} compares generated text with a reference; this set has "
                               "only `text` rows (use perplexity, or a prompt/reference set)",
                               path=dataset.path, line=e.line, field="reference")
        if e.reference is None:
            raise EvalSetError(f"{needs_reference[0]} needs a reference; this row has none",
                               path=dataset.path, line=e.line, field="reference")


def bundled_sets() -> list[Path]:
    """Evaluation sets shipped in data/: eval_* sets and the fine-tuning demos' held-out sets."""
    data = workspace.data_dir()
    found = sorted(data.glob("eval_*.jsonl")) + sorted(data.glob("eval_*.txt"))
    return found + sorted(data.glob("demo_*_heldout.jsonl"))
