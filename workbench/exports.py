"""CSV exports that a spreadsheet opens as data: a text cell that starts like a formula gets a leading apostrophe
(OWASP "CSV injection"), so a model output or a file's text such as `=HYPERLINK(...)` is never run."""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what Excel, LibreOffice and Sheets read as a formula


def spreadsheet_safe(value: object) -> object:
    """`value` with an apostrophe in front when it is text that a spreadsheet would evaluate; numbers unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_safe_csv(table: pd.DataFrame) -> str:
    """`table` as CSV text (no index) with every text cell and column name made spreadsheet-safe."""
    safe = table.rename(columns=lambda c: spreadsheet_safe(str(c)))
    text_columns = [c for c in safe.columns if safe[c].dtype == object or pd.api.types.is_string_dtype(safe[c])]
    for column in text_columns:
        safe[column] = safe[column].map(spreadsheet_safe)
    return safe.to_csv(index=False, lineterminator="\r\n")  # RFC 4180; a cell holding a bare CR gets quoted
