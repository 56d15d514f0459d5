"""Models: loading (specs, embedded models), adapters, prompts, batching, generation and scoring; every
capability builds on these, never on its own copy."""

from workbench.models.loading import (
    ATTENTION_IMPLEMENTATIONS,
    DEFAULT_MODEL,
    DEVICES,
    DTYPES,
    EMBEDDED,
    KINDS,
    SMOLLM2_GGUF,
    EmbeddedModel,
    LoadedModel,
    ModelInfo,
    ModelSpec,
    attention_implementation,
    embedded_available,
    installed_package_dir,
    list_models,
    load,
    locate,
    model_info,
    model_turn,
    prepare_smollm2,
    resolve_device,
    resolve_dtype,
)

__all__ = ["ATTENTION_IMPLEMENTATIONS", "DEFAULT_MODEL", "DEVICES", "DTYPES", "EMBEDDED", "KINDS", "SMOLLM2_GGUF",
           "EmbeddedModel", "LoadedModel", "ModelInfo", "ModelSpec", "attention_implementation", "embedded_available",
           "installed_package_dir", "list_models", "load", "locate", "model_info", "model_turn", "prepare_smollm2",
           "resolve_device", "resolve_dtype"]
