"""LLM Workbench core: models, attention, generation, fine-tuning, evaluation, bias; no Streamlit here.

In a notebook, `import workbench as wb` gives the public API (workbench/api.py), loaded on first use so that
the command line stays quick to start:

    load(name_or_folder, device=, dtype=)       a LoadedModel (embedded name, Hugging Face id or folder)
    attention(m, text, layers=)                 attention maps; attention_row(m, a, layer, head, query);
                                                attention_figure(a, view, layer=, head=, token=);
                                                attention_explorer(a): layer/head/token pickers (ipywidgets)
    contributions(m, text, token=)              contribution graph of a token (heads, MLPs, edges), one pass;
                                                contribution_graph(c, token=, threshold=); vocabulary_projection
    attribute(m, prompt, target=, contrast=, method=)   input attribution (ig, gxi, occlusion); panel=True adds
                                                rollout and every method with rank correlations
    adapter_diff(m, text, adapter, token=)      base vs adapter: each head's and MLP's change at a token, both graphs;
                                                attribution_diff(m, prompt, adapter, target=, method=) per token
    generate(m, prompt, ...)                    text with token probabilities; decoding_step(m, g, step, ...)
    grid(m, spec_or_dict)                       a Prompt lab variant grid
    evaluate(m, data, metrics, adapters=)       scores with bootstrap intervals
    compare(m, adapter, text, view=)            base against an adapter ("shift" or "attention")
    bias(m, probe, adapter=)                    a bias probe, before and after an adapter
    finetune(config_or_kwargs)                  a background LoRA job: .wait(), .stop(), .resume(), .status

Each result shows itself in Jupyter and has .figure(view), .to_pandas(), .to_json() and .save(path).
`attention`, `evaluate`, `compare`, `bias` and `finetune` are also the names of capability packages: those
packages become callable (calling one runs the API function), so `from workbench import bias` still gives the
package.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

__all__ = ["load", "attention", "attention_figure", "attention_explorer", "attention_row", "contributions",
           "contribution_graph", "vocabulary_projection", "attribute", "adapter_diff", "attribution_diff", "generate",
           "decoding_step", "grid", "evaluate", "compare",
           "bias", "finetune", "FinetuneJob"]
_PACKAGES = {"attention", "evaluate", "compare", "bias", "finetune"}  # API names that are also subpackages


def _set_class(module: types.ModuleType, cls: type) -> None:
    """Give a module object a ModuleType subclass (the documented way to customise module attributes)."""
    object.__setattr__(module, "__class__", cls)


class _CallablePackage(types.ModuleType):
    """A capability package that, called, runs the API function of the same name."""

    def __call__(self, *args, **kwargs):
        return getattr(importlib.import_module("workbench.api"), self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Workbench(types.ModuleType):
    """The `workbench` module: API names resolve lazily; subpackages named like an API function are callable."""

    def __getattribute__(self, name: str):
        if name in _PACKAGES:
            package = importlib.import_module(f"workbench.{name}")
            if type(package) is types.ModuleType:
                _set_class(package, _CallablePackage)
            return package
        return super().__getattribute__(name)

    def __getattr__(self, name: str):
        if name in __all__:
            return getattr(importlib.import_module("workbench.api"), name)
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(__all__))


_set_class(sys.modules[__name__], _Workbench)
