"""Adapters: atomic registration, safe names, and switching over one shared base model."""

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from workbench.models import adapters
from workbench.models.adapters import AdapterError


def _write_random_adapter(loaded, folder, seed):
    """A real LoRA adapter on a fresh copy of the base (the shared one may carry injected layers),
    with non-zero B so it changes the output."""
    from workbench.models import load

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    peft_model = get_peft_model(load(loaded.spec).model, config)
    peft_model.save_pretrained(folder)
    return folder


def _logits(loaded, text="The quick brown fox"):
    ids = loaded.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return loaded.model(ids).logits


def test_use_adapter_changes_output_and_base_is_restored_outside(smollm2, workspace_home):
    base = _logits(smollm2)
    staging = _write_random_adapter(smollm2, adapters.staging_dir("a1"), seed=0)
    a1 = adapters.register(staging, "a1", {"base_model": "smollm2-135m-instruct"})
    staging = _write_random_adapter(smollm2, adapters.staging_dir("a2"), seed=1)
    a2 = adapters.register(staging, "a2", {"base_model": "smollm2-135m-instruct"})
    try:
        with adapters.use_adapter(smollm2, a1) as active:
            assert active == "a1"
            first = _logits(smollm2)
        with adapters.use_adapter(smollm2, a2.path) as active:
            assert active == "a2"
            second = _logits(smollm2)
        with adapters.use_adapter(smollm2, a1):
            again = _logits(smollm2)
        after = _logits(smollm2)
    finally:
        smollm2.peft.base_model.disable_adapter_layers()
    assert not torch.allclose(first, base, atol=1e-3)
    assert not torch.allclose(first, second, atol=1e-3)
    torch.testing.assert_close(again, first)
    torch.testing.assert_close(after, base)
    assert [a.name for a in adapters.list_adapters("smollm2-135m-instruct")] == ["a2", "a1"]


def test_incomplete_adapter_is_never_registered(workspace_home):
    staging = adapters.staging_dir("broken")
    (staging / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(AdapterError, match="adapter_model.safetensors"):
        adapters.register(staging, "broken", {"base_model": "x"})
    assert adapters.list_adapters() == []


def test_rename_delete_and_export(smollm2, workspace_home, tmp_path):
    staging = _write_random_adapter(smollm2, adapters.staging_dir("one"), seed=2)
    adapters.register(staging, "one", {"base_model": "smollm2-135m-instruct"})
    info = adapters.rename("one", "two")
    assert info.name == "two" and info.metadata["base_model"] == "smollm2-135m-instruct"
    archive = adapters.export_zip("two", tmp_path)
    assert archive.exists() and archive.stat().st_size > 1000
    adapters.delete("two")
    assert adapters.list_adapters() == []


def test_adapter_names_cannot_escape_the_workspace(workspace_home):
    from workbench.errors import UnsafePath

    with pytest.raises(UnsafePath):
        adapters.staging_dir("../../etc")


def test_resolve_takes_a_registered_name_or_a_folder_and_refuses_escapes(smollm2, workspace_home, tmp_path,
                                                                         monkeypatch):
    from workbench.errors import UnsafePath

    monkeypatch.chdir(tmp_path)  # so that the escaping name below is no folder from here

    folder = _write_random_adapter(smollm2, tmp_path / "outside", seed=3)
    info = adapters.import_adapter(folder, "imported")
    assert info.name == "imported" and info.metadata["imported_from"] == str(folder.resolve())
    assert adapters.resolve("imported").path == info.path
    assert adapters.resolve(str(folder)).path == folder.resolve()
    with pytest.raises(AdapterError, match="no adapter named 'missing'"):
        adapters.resolve("missing")
    with pytest.raises(UnsafePath):
        adapters.resolve("../no-such-folder")
    assert [r["name"] for r in adapters.adapter_rows()] == ["imported"]
    (tmp_path / "imported").mkdir()  # a local folder named like the registered adapter does not win
    assert adapters.resolve("imported").path == info.path


def test_active_adapter_is_stored_per_base_model_and_forgotten_when_deleted(smollm2, workspace_home, tmp_path):
    adapters.import_adapter(_write_random_adapter(smollm2, tmp_path / "src", seed=4), "act")
    assert adapters.active_adapter("smollm2-135m-instruct") is None
    adapters.set_active_adapter("smollm2-135m-instruct", "act")
    assert adapters.active_adapter("smollm2-135m-instruct") == "act"
    assert adapters.active_adapter("minilm-l6") is None
    adapters.delete("act")
    assert adapters.active_adapter("smollm2-135m-instruct") is None
