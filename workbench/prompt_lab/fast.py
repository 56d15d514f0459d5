"""Opt-in fast mode: a private copy of the base model with int8 weight-only dynamic quantisation of every
nn.Linear (CPU), which reads about a quarter of the bytes per token. Its outputs are approximate and say so."""

from __future__ import annotations

import copy
import warnings
import weakref

import torch

from workbench.errors import InvalidSetting
from workbench.models import LoadedModel

FAST_LABEL = "int8 dynamic quantisation (approximate)"

_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # shared model -> its quantised copy


class FastModeUnavailable(InvalidSetting):
    """Fast mode cannot run here (not on CPU, or with an adapter)."""


def check_fast(loaded: LoadedModel, adapter) -> None:
    """Fast mode runs the base model on CPU only; say so before anything runs."""
    if loaded.device.type != "cpu":
        raise FastModeUnavailable(f"fast mode (int8 dynamic quantisation) runs on CPU only; {loaded.info.name} "
                                  f"is on {loaded.device}", field="fast")
    if adapter is not None:
        raise FastModeUnavailable("fast mode runs the base model only; choose no adapter or turn fast mode off",
                                  field="fast")


def quantised_copy(loaded: LoadedModel) -> torch.nn.Module:
    """The base model's int8 copy, made once per loaded model (the shared model is never changed).

    Caller holds `loaded.lock`.
    """
    if (model := _copies.get(loaded.model)) is None:
        from peft.tuners.tuners_utils import BaseTunerLayer

        model = copy.deepcopy(loaded.model)
        _unwrap_lora(model, BaseTunerLayer)  # adapters once applied stay injected (disabled): not in the copy
        with warnings.catch_warnings():  # torch 2.13 announces the end of quantised tensors (pytorch#184982)
            warnings.simplefilter("ignore", UserWarning)
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        _copies[loaded.model] = model.eval()
    return model


def _unwrap_lora(model: torch.nn.Module, layer_type: type) -> None:
    """Put each LoRA-wrapped module's base layer back in its place."""
    for name, module in list(model.named_modules()):
        if isinstance(module, layer_type) and name:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, module.get_base_layer())
