"""Training precision: the setting is checked, auto picks bf16 only on hardware that runs it fast, a bf16 loss stays
close to the float32 one, and a bf16 run trains, records what auto chose and resumes in it."""

import json

import pytest
import torch
from safetensors import safe_open

from tests.finetune.test_packing import _items
from tests.finetune.test_train import small_file, start_run
from workbench.errors import InvalidSetting
from workbench.finetune import config as run_config
from workbench.finetune import train
from workbench.finetune.config import LoraRunConfig, cpu_bf16_flags, resolve_precision
from workbench.models import batching

# bf16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4%) on every matmul input; over 30 layers the errors
# mostly average out. Measured on the 5-row packed batch below: 0.08% relative difference on SmolLM2 (AMX CPU).
# 2% leaves room for other CPUs' bf16 kernels (oneDNN on AMX or AVX-512 accumulates in other orders) and is still
# far below what a training step changes (early demo steps lower the loss by ~10% each).
BF16_LOSS_RTOL = 0.02


def test_precision_must_be_auto_fp32_or_bf16_and_the_message_names_the_field():
    expected = r"`precision` must be one of \('auto', 'fp32', 'bf16'\), got 'fp16'"
    with pytest.raises(InvalidSetting, match=expected) as err:
        LoraRunConfig(precision="fp16")
    assert err.value.field == "precision"
    assert LoraRunConfig().precision == "auto"


def test_a_run_stored_before_precision_existed_loads_and_resumes_in_fp32(tmp_path):
    stored = json.loads(LoraRunConfig(data="x.jsonl").to_json())
    del stored["precision"]
    (tmp_path / "config.json").write_text(json.dumps(stored))
    assert LoraRunConfig.load(tmp_path / "config.json").precision == "fp32"


def test_auto_is_bf16_only_on_a_cpu_with_bf16_matrix_instructions(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile amx_bf16\n\n")
    assert cpu_bf16_flags(cpuinfo) == ["amx_bf16", "avx512_bf16"]
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert cpu_bf16_flags(cpuinfo) == []
    assert cpu_bf16_flags(tmp_path / "absent") == []  # not Linux: no flags, so auto is fp32

    monkeypatch.setattr(run_config, "cpu_bf16_flags", lambda: [])
    assert resolve_precision("auto", "cpu") == ("fp32", "auto: this CPU has neither amx_bf16 nor avx512_bf16")
    monkeypatch.setattr(run_config, "cpu_bf16_flags", lambda: ["avx512_bf16"])
    assert resolve_precision("auto", "cpu") == ("bf16", "auto: this CPU has avx512_bf16")
    assert resolve_precision("fp32", "cpu") == ("fp32", "as set")
    assert resolve_precision("bf16", "cpu") == ("bf16", "as set")


def test_bf16_packed_loss_is_close_to_the_fp32_loss_on_the_same_batch(smollm2):
    items = _items(smollm2.tokenizer)
    examples = train._Examples(items, batching.padding_id(smollm2.tokenizer), "causal")
    batch = examples.packed(batching.pack(range(len(items)), examples.lengths, capacity=40), "cpu")
    device = torch.device("cpu")
    with torch.no_grad():
        with train.autocast(device, "fp32"):
            fp32 = train.causal_loss(smollm2.model, batch)
        with train.autocast(device, "bf16"):
            bf16 = train.causal_loss(smollm2.model, batch)
    assert fp32.dtype == bf16.dtype == torch.float32  # the loss itself is computed in float32
    assert bf16.item() != fp32.item()  # bf16 really ran
    assert bf16.item() == pytest.approx(fp32.item(), rel=BF16_LOSS_RTOL)


def test_an_auto_run_trains_in_bf16_records_it_and_resumes_in_it(tmp_path, smollm2, capfd, monkeypatch):
    """Auto on a CPU with bf16 matrix instructions: the loss goes down, the log and the adapter's metadata say bf16,
    and a resume on a machine where auto would pick fp32 keeps the checkpoint's bf16."""
    monkeypatch.setattr(run_config, "cpu_bf16_flags", lambda: ["amx_bf16"])
    path = small_file(tmp_path, "demo_dates_train.jsonl", 24)
    result = start_run(tmp_path, data=str(path), max_steps=4, batch_size=2, learning_rate=3e-3, warmup_steps=0,
                       validation_fraction=0, max_length=128, save_every=4, cpu_threads=1, precision="auto")
    assert result.status == "done" and result.steps == 4
    assert "precision bf16 (auto: this CPU has amx_bf16)" in capfd.readouterr().out
    run = tmp_path / "run"
    losses = [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
              if r["kind"] == "train"]
    assert losses[-1] < losses[0], losses
    meta = json.loads((run / "adapter" / "workbench_adapter.json").read_text())
    assert meta["metrics"]["precision"] == "bf16" and meta["config"]["precision"] == "auto"
    with safe_open(str(run / "adapter" / "adapter_model.safetensors"), "pt") as f:  # LoRA trains in float32
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}

    monkeypatch.setattr(run_config, "cpu_bf16_flags", lambda: [])
    stored = LoraRunConfig.load(run / "config.json")
    stored.max_steps = 5
    (run / "config.json").write_text(stored.to_json())
    assert train.train(run).steps == 5
    assert "precision bf16 (as the checkpoint was trained)" in capfd.readouterr().out


def test_the_cli_takes_precision_and_names_it_when_wrong(tmp_path, capsys):
    from workbench import cli

    data_file = small_file(tmp_path, "demo_dates_train.jsonl", 4)
    code = cli.main(["finetune", "smollm2-135m-instruct", str(data_file), "--out", str(tmp_path / "run"),
                     "--precision", "fp16"])
    assert code == 2 and "`precision` must be one of" in capsys.readouterr().err


def test_a_bf16_run_stores_the_frozen_base_in_bf16_and_trains_lora_in_float32():
    """bf16 on CPU as on CUDA: no per-step casts of the frozen weights; AdamW updates stay float32."""
    model, _ = train.build_model(LoraRunConfig(), torch.device("cpu"), [], "bf16")
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    trained = {p.dtype for p in model.parameters() if p.requires_grad}
    assert frozen == {torch.bfloat16} and trained == {torch.float32}
    model, _ = train.build_model(LoraRunConfig(), torch.device("cpu"), [], "fp32")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
