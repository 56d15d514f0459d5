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


def _small_adapter(name, metadata_bytes=None):
    """A registered folder with placeholder files (listing reads files, not tensors)."""
    staging = adapters.staging_dir(name)
    (staging / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (staging / "adapter_model.safetensors").write_text("weights")
    info = adapters.register(staging, name, {"base_model": "smollm2-135m-instruct"})
    if metadata_bytes is not None:
        (info.path / adapters.METADATA_FILE).write_bytes(metadata_bytes)
    return info


def test_bad_folders_are_listed_as_broken_with_their_reason_and_can_be_deleted(workspace_home):
    _small_adapter("good")
    _small_adapter("null-meta", b"null")
    _small_adapter("latin1-meta", '{"task": "caf\xe9"}'.encode("latin-1"))
    _small_adapter("cut-meta", b'{"base_model": "smollm2')
    (_small_adapter("no-weights").path / "adapter_model.safetensors").unlink()

    assert [a.name for a in adapters.list_adapters()] == ["good"]
    assert [a.name for a in adapters.list_adapters("smollm2-135m-instruct")] == ["good"]
    broken = {a.name: a.broken for a in adapters.list_adapters(include_broken=True) if a.broken}
    assert broken.keys() == {"null-meta", "latin1-meta", "cut-meta", "no-weights"}
    assert "null, not a JSON object" in broken["null-meta"]
    assert "not UTF-8" in broken["latin1-meta"]
    assert "not valid JSON" in broken["cut-meta"]
    assert "missing adapter_model.safetensors" in broken["no-weights"]
    statuses = {r["name"]: r["status"] for r in adapters.adapter_rows()}
    assert statuses["good"] == "ok" and statuses["null-meta"].startswith("broken: ")
    with pytest.raises(AdapterError, match="not UTF-8"):
        adapters.resolve("latin1-meta")
    adapters.delete("null-meta")
    assert "null-meta" not in {a.name for a in adapters.list_adapters(include_broken=True)}


def test_folder_name_is_the_one_name(workspace_home):
    info = _small_adapter("folder-name")
    assert "name" not in json.loads((info.path / adapters.METADATA_FILE).read_text())
    (info.path / adapters.METADATA_FILE).write_text(json.dumps({"name": "stale", "base_model": "b"}))
    assert adapters.read_adapter(info.path).name == "folder-name"
    assert [a.name for a in adapters.list_adapters()] == ["folder-name"]


def test_rename_killed_between_metadata_write_and_folder_rename_leaves_a_listable_adapter(workspace_home,
                                                                                          monkeypatch):
    from pathlib import Path

    _small_adapter("before")
    real_rename = Path.rename

    def killed(self, target):
        if self.name == "before":
            raise KeyboardInterrupt("killed between the two steps")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", killed)
    with pytest.raises(KeyboardInterrupt):
        adapters.rename("before", "after")
    monkeypatch.setattr(Path, "rename", real_rename)
    [info] = adapters.list_adapters()
    assert info.name == "before" and info.base_model == "smollm2-135m-instruct"
    assert adapters.rename("before", "after").name == "after"


def test_rename_killed_while_writing_metadata_keeps_the_old_metadata_whole(workspace_home, monkeypatch):
    import os

    _small_adapter("solid")
    real_replace = os.replace

    def killed(*_paths):
        raise KeyboardInterrupt("killed before the temp file replaced the metadata")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        adapters.rename("solid", "other")
    monkeypatch.setattr(os, "replace", real_replace)
    [info] = adapters.list_adapters()
    assert info.name == "solid" and info.metadata == {"base_model": "smollm2-135m-instruct"}


def test_export_zip_bytes_leaves_no_temp_files(workspace_home, tmp_path, monkeypatch):
    import tempfile
    import zipfile
    from io import BytesIO

    _small_adapter("zipped")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    body = adapters.export_zip_bytes("zipped")
    assert "zipped/adapter_config.json" in zipfile.ZipFile(BytesIO(body)).namelist()
    assert list(temp.iterdir()) == []


def _mismatched_adapter(loaded, folder, seed):
    """A real LoRA adapter whose tensors are one row/column too wide for the model (another model's size)."""
    from safetensors.torch import load_file, save_file

    _write_random_adapter(loaded, folder, seed)
    weights = load_file(folder / "adapter_model.safetensors")
    save_file({k: torch.zeros(v.shape[0] + (k.find("lora_B") >= 0), v.shape[1] + (k.find("lora_A") >= 0))
               for k, v in weights.items()}, folder / "adapter_model.safetensors")
    return folder


def _lora_layer_adapters(model):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return {key for m in model.modules() if isinstance(m, BaseTunerLayer) for key in m.lora_A}


def test_failed_adapter_apply_leaves_the_base_model_exactly_as_it_was(smollm2, workspace_home, tmp_path):
    from workbench.models import load

    loaded = load(smollm2.spec)  # a fresh copy: nothing injected yet
    bad = adapters.import_adapter(_mismatched_adapter(loaded, tmp_path / "bad", seed=5), "bad")
    before = _logits(loaded)
    with pytest.raises(AdapterError, match="does not fit"), adapters.use_adapter(loaded, bad):
        pass
    assert loaded.peft is None and _lora_layer_adapters(loaded.model) == set()
    torch.testing.assert_close(_logits(loaded), before, rtol=0, atol=0)

    good = adapters.import_adapter(_write_random_adapter(loaded, tmp_path / "good", seed=6), "good")
    with adapters.use_adapter(loaded, good):
        with_good = _logits(loaded)
    loaded_keys = set(loaded.peft.peft_config)
    with pytest.raises(AdapterError, match="does not fit"), adapters.use_adapter(loaded, bad):
        pass
    assert set(loaded.peft.peft_config) == loaded_keys == _lora_layer_adapters(loaded.model)
    torch.testing.assert_close(_logits(loaded), before, rtol=0, atol=0)
    with adapters.use_adapter(loaded, good):
        torch.testing.assert_close(_logits(loaded), with_good, rtol=0, atol=0)


def test_import_and_export_copy_only_the_adapter_files_and_refuse_links(smollm2, workspace_home, tmp_path):
    import zipfile

    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    folder = _write_random_adapter(smollm2, tmp_path / "src", seed=7)
    (folder / "notes.txt").write_text("not an adapter file")
    (folder / "README.md").unlink(missing_ok=True)  # PEFT writes one; ours points elsewhere
    (folder / "README.md").symlink_to(secret)  # an allowed name that points elsewhere
    with pytest.raises(AdapterError, match="README.md is a link"):
        adapters.import_adapter(folder, "linked")
    assert adapters.adapter_rows() == []
    (folder / "README.md").unlink()
    info = adapters.import_adapter(folder, "clean")
    assert sorted(p.name for p in info.path.iterdir()) == sorted(
        ["adapter_config.json", "adapter_model.safetensors", adapters.METADATA_FILE])  # notes.txt left behind
    (info.path / "README.md").symlink_to(secret)  # a link planted in the registry is never exported
    with pytest.raises(AdapterError, match="is a link"):
        adapters.export_zip_bytes("clean")
    (info.path / "README.md").unlink()
    with zipfile.ZipFile(adapters.export_zip(info.name, tmp_path)) as z:
        assert sorted(z.namelist()) == sorted(f"clean/{n}" for n in ["adapter_config.json",
                                                                    "adapter_model.safetensors",
                                                                    adapters.METADATA_FILE])
        assert all("PRIVATE" not in z.read(n).decode(errors="ignore") for n in z.namelist())
