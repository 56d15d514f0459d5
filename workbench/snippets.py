"""Copy as code: the snippet that reproduces a page's view with the notebook API (`import workbench as wb`).

Pure functions from plain settings to Python source. Every value is written with repr() (long containers with
pprint), so quoting is always right; every keyword is checked against the API function's signature, so a snippet
never calls what does not exist, and a keyword equal to the API's default is left out."""

from __future__ import annotations

import dataclasses
import inspect
import math
import pprint
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench import api
from workbench.bias.runs import ProbeSettings
from workbench.evaluate.run import EvalOptions
from workbench.finetune.config import LoraRunConfig
from workbench.models import ModelSpec
from workbench.prompt_lab.decoding import SamplingParams

IMPORT = "import workbench as wb"
WIDTH = 100  # a call longer than this is written one argument per line
SAMPLING = tuple(f.name for f in dataclasses.fields(SamplingParams) if f.name != "name")  # wb.generate's keywords


class Code(str):
    """Source put in as it is (a variable such as `m`), not as a string literal."""


@dataclass(frozen=True)
class Snippet:
    """A view as code: `setup` loads the model, `body` makes the view; `notes` say what the API cannot repeat."""

    setup: str
    body: str
    notes: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        """The whole snippet, as "Copy as code" shows it."""
        comments = "".join(f"# {note}\n" for note in self.notes)
        return f"{comments}{self.setup}\n\n{self.body}\n"


def literal(value):
    """`value` as plain Python (str, numbers, bool, None, lists, dicts) whose repr() is valid source."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {str(k): literal(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} has no literal in a snippet")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} as a literal in a snippet")


def source(value) -> str:
    """One argument's source: a `Code` as it is, anything else as a literal (containers wrapped when long)."""
    if isinstance(value, Code):
        return str(value)
    plain = literal(value)
    text = repr(plain)
    if len(text) > WIDTH and isinstance(plain, (list, dict)):
        text = pprint.pformat(plain, width=WIDTH - 4, sort_dicts=False).replace("\n", "\n    ")
    return text


def _is_default(parameter: inspect.Parameter | None, value) -> bool:
    if parameter is None or parameter.default is inspect.Parameter.empty or isinstance(value, Code):
        return False
    try:
        return literal(value) == literal(parameter.default)
    except (TypeError, ValueError):
        return False


def call(function: str, *args, assign: str | None = None, **keywords) -> str:
    """`assign = wb.function(*args, **keywords)`, keywords at the API's default left out; a keyword the function
    does not take is a bug here, not in the user's notebook, so it raises."""
    parameters = inspect.signature(getattr(api, function)).parameters
    open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    parts = [source(a) for a in args]
    for name, value in keywords.items():
        if name not in parameters and not open_ended:
            raise TypeError(f"wb.{function} takes no keyword {name!r}")
        if not _is_default(parameters.get(name), value):
            parts.append(f"{name}={source(value)}")
    head = f"{assign} = " if assign else ""
    line = f"{head}wb.{function}({', '.join(parts)})"
    if len(line) <= WIDTH and "\n" not in line:
        return line
    return f"{head}wb.{function}(\n" + "".join(f"    {p},\n" for p in parts) + ")"


def load_code(spec: ModelSpec) -> str:
    """`import workbench as wb` and `m = wb.load(...)`: the name and every loading option not at its default."""
    options = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)[1:]
               if getattr(spec, f.name) != f.default}
    return f"{IMPORT}\n\n{call('load', spec.name, assign='m', **options)}"


M = Code("m")


def page_only(**settings: bool) -> tuple[str, ...]:
    """A note naming the page's settings that are on but have no counterpart in the API (empty when none is)."""
    on = [name.replace("_", " ") for name, value in settings.items() if value]
    return (f"Page-only settings, not in the API: {', '.join(on)}.",) if on else ()


def _capture(text: str, layers: list[int] | None, max_tokens: int, chat: bool, layer: int, head: int) -> str:
    return call("attention", M, text, layers=layers, max_tokens=int(max_tokens), chat=chat, layer=int(layer),
                head=int(head), assign="a")


def attention_code(spec: ModelSpec, text: str, *, view: str, layer: int, head: int, max_tokens: int, chat: bool,
                   token: int = 0, query: int = 0, picked: list[int] | None = None, new_tokens: int = 24,
                   attribution: dict | None = None, contributions: dict | None = None,
                   adapter_diff: dict | None = None, notes: tuple[str, ...] = ()) -> Snippet:
    """The Attention page's view ("One head", "All heads", "Token focus", "Statistics", "Distance & sinks",
    "Aggregates", "Row math", "Generated", "bertviz", "Attribution", "Contributions" and "Base vs adapter" with their
    settings) as API calls."""
    one = _capture(text, [layer], max_tokens, chat, layer, head)
    every = _capture(text, None, max_tokens, chat, layer, head)
    bodies = {
        "One head": [one, 'a.figure("head")'],
        "All heads": [every, "wb.attention_explorer(a)  # layer and head pickers; hover shows exact weights"],
        "Token focus": [one, call("attention_figure", Code("a"), "token", layer=layer, token=int(token))],
        "Statistics": [every, 'a.figure("statistics")'],
        "Distance & sinks": [every, 'a.figure("distances").show()', 'a.figure("sinks")'],
        "Aggregates": [one, call("attention_figure", Code("a"), "mean", layer=layer)],
        "Row math": [one, call("attention_row", M, Code("a"), layer, head, int(query), assign="r"), "r"],
        "Generated": [call("generate", M, text, max_new_tokens=int(new_tokens), chat=chat, assign="g"),
                      "print(g.core.text)"],
        "bertviz": [_capture(text, sorted(picked or [layer]), max_tokens, chat, layer, head),
                    "wb.attention_explorer(a)"],
        "Attribution": [_attribute(text, chat, attribution or {}), 'r.figure("methods")', 'r.figure("correlations")'],
        "Contributions": [call("contributions", M, text, chat=chat, max_tokens=int(max_tokens), assign="c",
                               **{k: v for k, v in (contributions or {}).items() if v is not None}),
                          'c.figure("importance")'],
        "Base vs adapter": _adapter_diff(text, chat, max_tokens, adapter_diff or {}),
    }
    if view not in bodies:
        raise ValueError(f"no snippet for the attention view {view!r}")
    return Snippet(load_code(spec), "\n".join(bodies[view]), tuple(notes))


def _attribute(text: str, chat: bool, settings: dict) -> str:
    """`r = wb.attribute(...)` with the faithfulness panel ("target" is wb.attribute's own keyword, so the
    assignment is written here rather than by `call`)."""
    keywords = {"target": settings.get("target") or None, "contrast": settings.get("contrast") or None,
                "method": settings.get("method") or "ig", "steps": int(settings.get("steps") or 32), "chat": chat,
                "adapter": settings.get("adapter"), "panel": True}
    return "r = " + call("attribute", M, text, **keywords)


def _adapter_diff(text: str, chat: bool, max_tokens: int, settings: dict) -> list[str]:
    """`d = wb.adapter_diff(...)` and, once an attribution was asked for, `r = wb.attribution_diff(...)`."""
    adapter = settings.get("adapter") or "ADAPTER"
    lines = [call("adapter_diff", M, text, adapter, token=settings.get("token"), chat=chat,
                  max_tokens=int(max_tokens), assign="d"), 'd.figure("delta")']
    if settings.get("method"):
        lines += ["r = " + call("attribution_diff", M, text, adapter, target=settings.get("target") or None,
                                contrast=settings.get("contrast") or None, method=settings["method"],
                                steps=int(settings.get("steps") or 32), chat=chat), 'r.figure("tokens")']
    return lines


def sampling_keywords(params: SamplingParams | dict) -> dict:
    """The sampling settings as wb.generate's keywords (a parameter set's name is not one)."""
    values = dataclasses.asdict(params) if isinstance(params, SamplingParams) else dict(params)
    return {k: values[k] for k in SAMPLING if k in values}


def generate_code(spec: ModelSpec, prompt: str, params: SamplingParams | dict, *, chat: bool,
                  system: str | None = None, seed: int = 0, adapter: str | None = None,
                  notes: tuple[str, ...] = ()) -> Snippet:
    """A Prompt lab generation: the text, then each new token's probability."""
    body = [call("generate", M, prompt, **sampling_keywords(params), chat=chat, system=system if chat else None,
                 seed=int(seed), adapter=adapter, assign="g"),
            "print(g.core.text)", "g  # each new token's probability"]
    return Snippet(load_code(spec), "\n".join(body), tuple(notes))


def grid_code(spec: ModelSpec, grid: dict, notes: tuple[str, ...] = ()) -> Snippet:
    """A Prompt lab grid (the dict `GridSpec.from_dict` takes), one row per cell."""
    body = [call("grid", M, grid, assign="r"), 'r.to_pandas()[["params", "row", "repeat", "text"]]']
    return Snippet(load_code(spec), "\n".join(body), tuple(notes))


def evaluate_code(spec: ModelSpec, data: str | Path, metrics: list[str], models: list[str | None], *,
                  limit: int = 0, options: dict | None = None, notes: tuple[str, ...] = ()) -> Snippet:
    """An evaluation: `models` are None (the base), adapter names or folders; options as `EvalOptions` fields."""
    defaults = dataclasses.asdict(EvalOptions())  # values are left to wb.evaluate to check, as the page does
    unknown = set(options or {}) - set(defaults)
    if unknown:
        raise TypeError(f"EvalOptions has no field {sorted(unknown)[0]!r}")
    changed = {k: v for k, v in (options or {}).items() if v != defaults[k]}
    body = [call("evaluate", M, str(data), list(metrics), adapters=list(models), limit=int(limit), **changed,
                 assign="e"),
            'e.to_pandas()  # model, key, value and the bootstrap 95% interval']
    return Snippet(load_code(spec), "\n".join(body), tuple(notes))


def bias_code(spec: ModelSpec, probe: str, settings: dict, *, adapter: str | None = None,
              data_path: str | Path | None = None, recompute: bool = False,
              notes: tuple[str, ...] = ()) -> Snippet:
    """A bias probe on the base (and with `adapter`, before and after); `settings` as `ProbeSettings` fields
    (others, such as a probe's fixed values, are dropped)."""
    names = {f.name for f in dataclasses.fields(ProbeSettings)}
    kept = {k: v for k, v in settings.items() if k in names}
    side = "adapter" if adapter else "base"
    body = [call("bias", M, probe, adapter=adapter, data_path=None if data_path is None else str(data_path), **kept,
                 use_cache=not recompute, assign="b"),
            f'print(b.core["{side}"].summary)', "b"]
    return Snippet(load_code(spec), "\n".join(body), tuple(notes))


def compare_code(spec: ModelSpec, adapter: str, prompt: str, *, chat: bool, max_new_tokens: int, seed: int = 0,
                 attention: dict | None = None, notes: tuple[str, ...] = ()) -> Snippet:
    """Base against an adapter: both greedy outputs and the log-prob shift; with `attention` (text, measure,
    max_tokens), the per-head attention diff too."""
    body = [call("compare", M, adapter, prompt, chat=chat, max_new_tokens=int(max_new_tokens), seed=int(seed),
                 assign="c"),
            'sbs = c.core["side_by_side"]', "print(sbs.base_greedy.text)", "print(sbs.tuned_greedy.text)"]
    if attention is None:
        body.append('c.figure("shift")')
    else:
        body += [call("compare", M, adapter, attention["text"], view="attention", measure=attention["measure"],
                      max_tokens=int(attention["max_tokens"]), assign="d"), 'd.figure("attention")']
    return Snippet(load_code(spec), "\n".join(body), tuple(notes))


KEPT_FIELDS = ("model", "data", "adapter_name", "task")  # written even at their defaults: what the run is about


def finetune_code(config: dict, notes: tuple[str, ...] = ()) -> Snippet:
    """A LoRA fine-tune with the page's settings (those at `LoraRunConfig`'s defaults left out), then its curves."""
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(LoraRunConfig)}
    unknown = set(config) - set(defaults)
    if unknown:
        raise TypeError(f"LoraRunConfig has no field {sorted(unknown)[0]!r}")
    settings = {k: v for k, v in config.items() if k in KEPT_FIELDS or literal(v) != literal(defaults[k])}
    body = [call("finetune", settings, assign="job"), "job.wait()", "job.curves()"]
    return Snippet(IMPORT, "\n".join(body), tuple(notes))
