"""What the Fine-tune page's data section shows for a training file: its format, good and bad rows, the split,
a preview and the token lengths, in one picklable report the page caches per file content."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.finetune import data


@dataclass
class DataReport:
    """One file read with the model's tokenizer; `errors` and `preview` are table rows."""

    format: str  # chat | prompt_response | classification | text
    rows: int  # good rows
    errors: list[dict]  # one per bad row: line, field, message
    preview: list[dict]
    lengths: list[int]  # tokens per good row
    labels: list[str]  # classification labels; empty for causal data

    @property
    def usable(self) -> bool:
        """Training may start: no bad row and at least one good one."""
        return not self.errors and self.rows > 0

    def split(self, validation_fraction: float) -> tuple[int, int]:
        """(train, validation) row counts, the split the run will make (seed 0)."""
        n_val = len(data.split_indices(self.rows, validation_fraction, 0)[1])
        return self.rows - n_val, n_val

    def summary(self, file_name: str, validation_fraction: float) -> str:
        """The line over the preview: file, format, good rows, the split, the labels."""
        n_train, n_val = self.split(validation_fraction)
        labels = f" · labels: {', '.join(self.labels)}" if self.labels else ""
        return (f"**{file_name}** · format `{self.format}` · {self.rows} good rows → "
                f"{n_train} train / {n_val} validation{labels}")

    def errors_message(self) -> str:
        return f"{len(self.errors)} bad row(s): fix them before training (every one is listed)."


def data_report(path: Path | str, tokenizer, max_length: int, task: str) -> DataReport:
    """Read and check the file as a run would, and shape what the data section shows."""
    ds = data.read_dataset(path, tokenizer, max_length, task=task)
    return DataReport(format=ds.format, rows=len(ds.rows), errors=[vars(e) for e in ds.errors],
                      preview=data.preview(ds), lengths=data.token_lengths(ds, tokenizer), labels=ds.labels)
