"""What a variant grid is: a prompt template, rows of variable values, parameter sets, adapters, repeats."""

from __future__ import annotations

import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import InvalidSetting, WorkbenchError
from workbench.models.adapters import BASE_CHOICE
from workbench.models.endpoint import EndpointSpec
from workbench.prompt_lab.decoding import InvalidSampling, SamplingParams


class TemplateError(InvalidSetting):
    """A template names a variable that a row does not give, or is malformed."""


class GridSpecError(InvalidSetting):
    """A grid spec file is unreadable or has a wrong field."""


def template_variables(template: str) -> list[str]:
    """The `{names}` a template uses, in order of first use (`{{` and `}}` are literal braces)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as err:
        raise TemplateError(f"the template is malformed: {err} (write {{{{ and }}}} for literal braces)",
                            field="template") from err
    for name in names:
        if not name.isidentifier():
            raise TemplateError(f"`{{{name}}}` is not a variable name (letters, digits, _)", field="template")
    return list(dict.fromkeys(names))


def render_template(template: str, values: dict, *, row_index: int | None = None) -> str:
    """Fill `{variables}` from one row; a name the row lacks is an error naming the variable and the row."""
    missing = [n for n in template_variables(template) if n not in values]
    if missing:
        where = f" in row {row_index}" if row_index is not None else ""
        raise TemplateError(f"unknown variable `{{{missing[0]}}}`{where}: the rows give "
                            f"{', '.join(sorted(values)) or 'no variables'}", field="template")
    return template.format_map({k: str(v) for k, v in values.items()})


@dataclass(frozen=True)
class GridSpec:
    """A grid of prompts: template x rows x parameter sets x adapters x repeats."""

    template: str = field(metadata={"help": "Prompt with {variables}, e.g. 'Translate to French: {text}'."})
    rows: tuple[dict, ...] = field(default=({},), metadata={"help": "Variable values, one dict per row."})
    param_sets: tuple[SamplingParams, ...] = field(default=(SamplingParams(),),
                                                   metadata={"help": "One or more sampling settings."})
    adapters: tuple[str | None, ...] = field(default=(None,),
                                             metadata={"help": "Adapter names or folders; None is the base."})
    repeats: int = field(default=1, metadata={"help": "Samples per cell, seeds seed, seed+1, ... (1..64)."})
    seed: int = field(default=0, metadata={"help": "Seed of the first repeat."})
    chat: bool = field(default=True, metadata={"help": "Wrap each prompt in the chat template."})
    system: str | None = field(default=None, metadata={"help": "System prompt (with chat)."})
    batch_size: int = field(default=8, metadata={"help": "Prompts decoded together (1..64)."})
    endpoints: tuple[EndpointSpec, ...] = field(default=(), metadata={
        "help": "OpenAI-compatible endpoints as extra columns (base_url, model, api_key_env: a variable's name)."})
    fast: bool = field(default=False, metadata={"help": "Int8 copy of the base model on CPU: faster, approximate."})

    def __post_init__(self) -> None:
        if not self.template or not self.template.strip():
            raise TemplateError("the template is empty", field="template")
        if not self.rows:
            raise GridSpecError("give at least one row of variables (an empty row if the template has none)",
                                field="rows")
        for i, row in enumerate(self.rows):
            render_template(self.template, row, row_index=i)
        if not self.param_sets:
            raise GridSpecError("give at least one parameter set", field="param_sets")
        if not self.adapters:
            raise GridSpecError("give at least one adapter (None for the base model)", field="adapters")
        if not isinstance(self.repeats, int) or not 1 <= self.repeats <= 64:
            raise GridSpecError(f"`repeats` must be an integer from 1 to 64, got {self.repeats!r}", field="repeats")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 64:
            raise GridSpecError(f"`batch_size` must be an integer from 1 to 64, got {self.batch_size!r}",
                                field="batch_size")
        if not isinstance(self.fast, bool):
            raise GridSpecError(f"`fast` must be true or false, got {self.fast!r}", field="fast")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise GridSpecError(f"`seed` must be an integer >= 0, got {self.seed!r}", field="seed")

    def to_dict(self) -> dict:
        return {"template": self.template, "rows": [dict(r) for r in self.rows],
                "param_sets": [p.to_dict() for p in self.param_sets], "adapters": list(self.adapters),
                "repeats": self.repeats, "seed": self.seed, "chat": self.chat, "system": self.system,
                "batch_size": self.batch_size, "fast": self.fast,
                "endpoints": [e.to_dict() for e in self.endpoints]}

    @classmethod
    def from_dict(cls, data: dict, *, path: str | None = None) -> GridSpec:
        """Build from plain values (a YAML file, a stored run); errors name the field and the file."""
        if not isinstance(data, dict):
            raise GridSpecError("the spec must be a mapping of fields", path=path)
        known = {"template", "rows", "variables", "param_sets", "params", "adapters", "repeats", "seed", "chat",
                 "system", "batch_size", "models", "fast", "endpoints"}
        unknown = sorted(str(k) for k in data if k not in known)  # YAML keys may be None, numbers, dates
        if unknown:
            raise GridSpecError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                                path=path, field=unknown[0])
        if "template" not in data:
            raise GridSpecError("the spec has no `template`", path=path, field="template")
        if not isinstance(data["template"], str):
            raise GridSpecError(f"`template` must be text, got {type(data['template']).__name__}", path=path,
                                field="template")
        grid_models(data, path)  # checked here too, so a bad `models` fails before anything runs
        rows = data.get("rows", data.get("variables")) or [{}]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise GridSpecError("`rows` must be a list of mappings (variable: value)", path=path, field="rows")
        raw_params = data.get("param_sets", data.get("params")) or [{}]
        if isinstance(raw_params, dict):
            raw_params = [raw_params]
        param_sets = []
        for i, p in enumerate(raw_params):
            if not isinstance(p, dict):
                raise GridSpecError(f"parameter set {i} must be a mapping", path=path, field="param_sets")
            bad = sorted(set(p) - set(SamplingParams.__dataclass_fields__))
            if bad:
                raise GridSpecError(f"parameter set {i}: unknown field `{bad[0]}`", path=path, field=bad[0])
            try:
                param_sets.append(SamplingParams(**p))
            except InvalidSampling as err:
                raise GridSpecError(f"parameter set {i}: {err.message}", path=path, field=err.field) from err
        adapters = data.get("adapters", [None])
        adapters = [None] if adapters is None else adapters if isinstance(adapters, list) else [adapters]
        if not all(a is None or isinstance(a, str) for a in adapters):
            raise GridSpecError("`adapters` must be adapter names (or base / null for the base model)", path=path,
                                field="adapters")
        adapters = tuple(None if a in (None, "", "base", BASE_CHOICE) else str(a) for a in adapters)
        try:
            return cls(template=str(data["template"]), rows=tuple(dict(r) for r in rows),
                       param_sets=tuple(param_sets), adapters=adapters, repeats=data.get("repeats", 1),
                       seed=data.get("seed", 0), chat=bool(data.get("chat", True)), system=data.get("system"),
                       batch_size=data.get("batch_size", 8), fast=data.get("fast", False),
                       endpoints=_endpoints(data.get("endpoints"), path))
        except InvalidSetting as err:
            raise GridSpecError(err.message, path=path, field=err.field) from err


def _endpoints(raw, path: str | None) -> tuple[EndpointSpec, ...]:
    """A spec's `endpoints`: a list of mappings (one mapping alone is fine)."""
    if raw is None:
        return ()
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list):
        raise GridSpecError("`endpoints` must be a list of mappings (base_url, model, api_key_env)", path=path,
                            field="endpoints")
    return tuple(EndpointSpec.from_dict(e, path=path) for e in raw)


FIELD_LABELS = {"template": "template", "rows": "rows", "param_sets": "parameter sets", "adapters": "adapters",
                "repeats": "repeats", "seed": "seed", "chat": "chat template", "system": "system prompt",
                "batch_size": "batch size", "endpoints": "endpoint column", "fast": "fast mode"}


def labelled_fields(data: dict) -> dict:
    """A grid's fields under their names on screen, for `workbench.stale`: a spec's `to_dict()`, or the page's raw
    inputs (normalised through `GridSpec` when they make a valid one, as they are when they don't)."""
    try:
        data = GridSpec.from_dict(data).to_dict()
    except WorkbenchError:
        pass
    return {FIELD_LABELS.get(k, k): v for k, v in data.items()}


def read_grid_file(path: Path | str) -> tuple[GridSpec, list[str]]:
    """A YAML grid spec -> (spec, model names listed under `models`, may be empty)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise GridSpecError("no such file", path=str(path))
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise GridSpecError(f"not UTF-8 text (byte {err.start})", path=str(path)) from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise GridSpecError(f"not valid YAML: {getattr(err, 'problem', err)}", path=str(path),
                            line=mark.line + 1 if mark else None) from err
    spec = GridSpec.from_dict(data, path=str(path))
    return spec, grid_models(data, str(path))


def grid_models(data: dict, path: str | None) -> list[str]:
    """A spec's `models`: one model name or a list of them (may be absent)."""
    models = data.get("models") or []
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise GridSpecError("`models` must be a model name or a list of model names", path=path, field="models")
    return models


@dataclass(frozen=True)
class RepeatSummary:
    """How stable one cell's answers are across its repeats."""

    samples: int
    distinct: int
    agreement: float      # share of samples equal to the most common answer
    most_common: str
    counts: dict          # answer -> how many samples gave it


def summarize_repeats(texts: list[str]) -> RepeatSummary:
    """Collapse N samples of a cell into counts of distinct answers (compared after stripping whitespace)."""
    counts = Counter(t.strip() for t in texts)
    top, n = counts.most_common(1)[0]
    return RepeatSummary(samples=len(texts), distinct=len(counts), agreement=n / len(texts), most_common=top,
                         counts=dict(counts.most_common()))
