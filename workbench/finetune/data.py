"""Fine-tuning data: read JSONL, CSV and TXT, validate every row (line number + field), tokenise for training."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError

SUFFIXES = (".jsonl", ".json", ".csv", ".txt")
CHAT_ROLES = ("system", "user", "assistant")
IGNORE_INDEX = -100  # label value the loss skips (prompt tokens, padding)

# Data formats, detected from the columns of the first good row; first match wins.
FORMATS: list[tuple[str, tuple[str, ...]]] = [
    ("chat", ("messages",)),
    ("prompt_response", ("prompt", "response")),
    ("classification", ("text", "label")),
    ("text", ("text",)),
]


class DataError(WorkbenchError):
    """A data file cannot be used for training; `errors` lists every bad row."""

    def __init__(self, message: str, *, path: str | None = None, errors: list[RowError] | None = None) -> None:
        self.errors = errors or []
        super().__init__(message, path=path)


@dataclass(frozen=True)
class RowError:
    """One bad row: where (1-based line, field) and what is wrong."""

    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}" + (f", field `{self.field}`" if self.field else "") + f": {self.message}"


@dataclass
class Dataset:
    """The good rows of a file, its detected format and every row error found."""

    path: Path
    format: str  # chat | prompt_response | classification | text
    rows: list[dict]
    lines: list[int]  # source line of each row
    errors: list[RowError] = field(default_factory=list)
    sha256: str = ""
    labels: list[str] = field(default_factory=list)  # classification: sorted label names

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    def raise_for_errors(self) -> None:
        """Raise one DataError naming every bad row, so a caller never trains on a half-valid file."""
        if self.errors:
            lines = "\n".join(str(e) for e in self.errors[:50])
            more = f"\n… and {len(self.errors) - 50} more" if len(self.errors) > 50 else ""
            raise DataError(f"{len(self.errors)} bad row(s):\n{lines}{more}", path=str(self.path),
                            errors=self.errors)
        if not self.rows:
            raise DataError("the file has no usable rows", path=str(self.path))


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _decoded_lines(raw: bytes, errors: list[RowError]) -> list[str]:
    """Lines of a file decoded as UTF-8; an undecodable line becomes an error and an empty line."""
    lines = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(chunk.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as err:
            errors.append(RowError(number, None, f"not UTF-8 text (byte {err.start + 1} of the line); "
                                                 "save the file as UTF-8"))
            lines.append("")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]  # byte-order mark
    return lines


def _parse_jsonl(lines: list[str], errors: list[RowError]) -> list[tuple[int, dict]]:
    rows = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            errors.append(RowError(number, None, f"bad JSON: {err.msg} (column {err.colno})"))
            continue
        if not isinstance(value, dict):
            errors.append(RowError(number, None, f"expected a JSON object, got {type(value).__name__}"))
            continue
        rows.append((number, value))
    return rows


def _parse_csv(lines: list[str], errors: list[RowError]) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    rows = []
    try:
        for record in reader:
            number = reader.line_num
            if None in record:
                errors.append(RowError(number, None, f"more values than the {len(reader.fieldnames)} columns"))
                continue
            if all(not (v or "").strip() for v in record.values()):
                continue
            rows.append((number, {k.strip(): v for k, v in record.items() if k is not None}))
    except csv.Error as err:  # a stray carriage return, an unclosed quote, a field over the size limit
        errors.append(RowError(max(reader.line_num, 1), None,
                               f"unreadable CSV: {err}; the rows after it were not read"))
    return rows


def _parse_txt(lines: list[str]) -> list[tuple[int, dict]]:
    return [(n, {"text": t}) for n, t in enumerate(lines, start=1) if t.strip()]


def detect_format(columns: set[str]) -> str | None:
    for name, needed in FORMATS:
        if set(needed) <= columns:
            return name
    return None


def _expected_columns() -> str:
    return "; ".join(" + ".join(f"`{c}`" for c in needed) for _, needed in FORMATS)


def _check_text(row: dict, key: str, line: int, errors: list[RowError]) -> bool:
    value = row.get(key)
    if not isinstance(value, str) and key == "label" and isinstance(value, (int, bool)):
        return True
    if not isinstance(value, str):
        errors.append(RowError(line, key, f"expected text, got {type(value).__name__}"))
        return False
    if not value.strip():
        errors.append(RowError(line, key, "empty"))
        return False
    return True


def _check_messages(messages, line: int, errors: list[RowError]) -> bool:
    if not isinstance(messages, list) or not messages:
        errors.append(RowError(line, "messages", "expected a non-empty list of {role, content} objects"))
        return False
    good = True
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in CHAT_ROLES:
            errors.append(RowError(line, f"{where}.role", f"role must be one of {', '.join(CHAT_ROLES)}"))
            good = False
        elif not isinstance(m.get("content"), str) or not m["content"].strip():
            errors.append(RowError(line, f"{where}.content", "empty"))
            good = False
    if good and not any(m["role"] == "assistant" for m in messages):
        errors.append(RowError(line, "messages", "no assistant message to learn from"))
        good = False
    return good


def _check_row(fmt: str, row: dict, line: int, errors: list[RowError]) -> bool:
    if fmt == "chat":
        return _check_messages(row.get("messages"), line, errors)
    needed = dict(FORMATS)[fmt]
    missing = [c for c in needed if c not in row]
    if missing:
        errors.append(RowError(line, missing[0], f"missing column (this file is {fmt}: needs "
                                                 f"{', '.join(needed)})"))
        return False
    return all([_check_text(row, key, line, errors) for key in needed])


def read_dataset(path: Path | str, tokenizer=None, max_length: int | None = None,
                 task: str | None = None) -> Dataset:
    """Read and validate a data file; every bad row is collected (never only the first).

    With a tokenizer and max_length, rows longer than max_length tokens are errors too.
    `task` ("causal" or "classification") rejects a file of the other kind.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError("no such file", path=str(path))
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"unsupported file type {path.suffix or '(none)'}; use {', '.join(SUFFIXES)}",
                        path=str(path))
    raw = path.read_bytes()
    errors: list[RowError] = []
    if not raw.strip():
        raise DataError("the file is empty", path=str(path), errors=[RowError(1, None, "the file is empty")])
    lines = _decoded_lines(raw, errors)
    suffix = path.suffix.lower()
    parsed = (_parse_csv(lines, errors) if suffix == ".csv" else _parse_txt(lines) if suffix == ".txt"
              else _parse_jsonl(lines, errors))
    fmt = None
    for _, row in parsed:
        fmt = detect_format(set(row))
        if fmt:
            break
    if fmt is None:
        first = parsed[0] if parsed else (1, {})
        cols = ", ".join(f"`{c}`" for c in first[1]) or "none"
        errors.append(RowError(first[0], None, f"wrong columns ({cols}); expected one of: {_expected_columns()}"))
        return Dataset(path, "unknown", [], [], sorted(errors, key=lambda e: e.line), file_sha256(path))
    if task == "classification" and fmt != "classification":
        raise DataError(f"classification needs `text` + `label` columns; this file is {fmt}", path=str(path))
    if task == "causal" and fmt == "classification":
        fmt = "text"  # a labelled file can still train a language model on its text
    rows, row_lines = [], []
    for line, row in parsed:
        if _check_row(fmt, row, line, errors):
            rows.append(row)
            row_lines.append(line)
    dataset = Dataset(path, fmt, rows, row_lines, errors, file_sha256(path))
    if fmt == "classification":
        dataset.labels = sorted({str(r["label"]) for r in rows})
        if len(dataset.labels) < 2:
            errors.append(RowError(row_lines[0] if row_lines else 1, "label",
                                   f"need at least two different labels, found {dataset.labels}"))
    if tokenizer is not None:
        _check_with_tokenizer(dataset, tokenizer, max_length)
    dataset.errors.sort(key=lambda e: e.line)
    return dataset


def _check_with_tokenizer(dataset: Dataset, tokenizer, max_length: int | None) -> None:
    """The checks that need the model's tokenizer: a chat template for chat rows, then the lengths."""
    if dataset.format == "chat":
        require_chat_template(tokenizer, path=str(dataset.path), line=dataset.lines[0] if dataset.lines else 1)
    if max_length:
        _check_lengths(dataset, tokenizer, max_length)


def _check_lengths(dataset: Dataset, tokenizer, max_length: int) -> None:
    keep_rows, keep_lines = [], []
    for row, line, n in zip(dataset.rows, dataset.lines, token_lengths(dataset, tokenizer)):
        if n > max_length and dataset.format != "classification":  # classification truncates instead
            longest = max((k for k in row if isinstance(row[k], str)), key=lambda k: len(row[k]), default=None)
            dataset.errors.append(RowError(line, longest if dataset.format != "chat" else "messages",
                                           f"{n} tokens, longer than the max length {max_length}"))
        else:
            keep_rows.append(row)
            keep_lines.append(line)
    dataset.rows, dataset.lines = keep_rows, keep_lines


def token_lengths(dataset: Dataset, tokenizer) -> list[int]:
    """Tokens per row as trained (prompt + response + end token), for the histogram and the length check."""
    return [len(tokenize_row(dataset.format, row, tokenizer)["input_ids"]) for row in dataset.rows]


def require_chat_template(tokenizer, *, path: str | None = None, line: int | None = None) -> None:
    """Chat rows are formatted by the model's own template; a tokenizer without one cannot train on them."""
    if not getattr(tokenizer, "chat_template", None):
        raise DataError("chat rows (`messages`) are formatted by the model's chat template, and this model "
                        "has no chat template; use prompt/response rows or a chat model", path=path,
                        errors=[RowError(line or 1, "messages", "the model has no chat template")])


def _chat_example(messages: list[dict], tokenizer, response_only: bool) -> dict:
    """Token ids for a conversation; labels only on assistant turns when response_only."""
    require_chat_template(tokenizer)
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []  # character spans of assistant replies in `text`
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            start = len(tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True))
            end = len(tokenizer.apply_chat_template(messages[:i + 1], tokenize=False))
            spans.append((start, end))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    if not response_only:
        return {"input_ids": ids, "labels": list(ids)}
    labels = [t if any(s <= a < e for s, e in spans) else IGNORE_INDEX
              for t, (a, _) in zip(ids, enc["offset_mapping"])]
    return {"input_ids": ids, "labels": labels}


def tokenize_row(fmt: str, row: dict, tokenizer, *, response_only: bool = True,
                 label_ids: dict[str, int] | None = None) -> dict:
    """One training example: input_ids and labels (IGNORE_INDEX where the loss must not look)."""
    if fmt == "chat":
        return _chat_example(row["messages"], tokenizer, response_only)
    if fmt == "classification":
        ids = tokenizer(row["text"], add_special_tokens=True)["input_ids"]
        return {"input_ids": ids, "labels": (label_ids or {}).get(str(row["label"]), -1)}
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if fmt == "text":
        ids = tokenizer(row["text"], add_special_tokens=True)["input_ids"] + eos
        return {"input_ids": ids, "labels": list(ids)}
    # prompt/response: the prompt is tokenised alone, exactly as a generation call will see it
    prompt = tokenizer(row["prompt"], add_special_tokens=True)["input_ids"]
    response = tokenizer(row["response"], add_special_tokens=False)["input_ids"] + eos
    labels = ([IGNORE_INDEX] * len(prompt) if response_only else list(prompt)) + response
    return {"input_ids": prompt + response, "labels": labels}


def split_indices(n: int, validation_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A deterministic train/validation split of n rows (validation gets at least one row when asked)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = min(max(1, round(n * validation_fraction)), n - 1) if validation_fraction > 0 and n > 1 else 0
    return sorted(order[n_val:]), sorted(order[:n_val])


def preview(dataset: Dataset, n: int = 20) -> list[dict]:
    """The first n good rows with their line numbers, as a table-ready list."""
    out = []
    for row, line in zip(dataset.rows[:n], dataset.lines[:n]):
        flat = {k: (json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v) for k, v in row.items()}
        out.append({"line": line, **flat})
    return out
