"""Real LoRA runs on the embedded models: loss goes down, the adapter reloads with PEFT and changes the output."""

import json

import pytest
import torch

from workbench.errors import InvalidSetting
from workbench.finetune import checkpoints, data, train
from workbench.finetune.config import LoraRunConfig, default_target_modules
from workbench.models import ModelSpec, adapters, locate

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def small_file(tmp_path, source: str, n: int):
    """The first n rows of a demo file, so a test run tokenises little."""
    lines = (ROOT / "data" / source).read_text().splitlines()[:n]
    path = tmp_path / source
    path.write_text("\n".join(lines) + "\n")
    return path


def start_run(tmp_path, **settings) -> "train.TrainResult":
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(LoraRunConfig(**settings).to_json())
    return train.train(run)


def test_config_names_the_bad_field():
    with pytest.raises(InvalidSetting, match="`rank` must be at least 1, got 0"):
        LoraRunConfig(rank=0)
    with pytest.raises(InvalidSetting, match="unknown setting"):
        LoraRunConfig.from_dict({"rnak": 4})
    assert default_target_modules("llama") == ["q_proj", "v_proj"]
    assert default_target_modules("bert") == ["query", "value"]


def test_causal_lora_lowers_loss_and_reloads_with_peft(tmp_path, smollm2):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    path = small_file(tmp_path, "demo_dates_train.jsonl", 24)
    result = start_run(tmp_path, data=str(path), max_steps=6, batch_size=4, learning_rate=3e-3, warmup_steps=0,
                       validation_fraction=0, max_length=48, save_every=3, cpu_threads=1)
    assert result.status == "done" and result.steps == 6
    assert [c.name for c in checkpoints.list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-000003",
                                                                                              "step-000006"]
    adapter_dir = tmp_path / "run" / "adapter"
    assert (adapter_dir / "adapter_model.safetensors").exists() and adapters.read_adapter(adapter_dir)
    meta = json.loads((adapter_dir / adapters.METADATA_FILE).read_text())
    assert meta["data_sha256"] == data.file_sha256(path) and meta["task"] == "causal"

    # Independent check: the loss of the reloaded adapter on the training rows is lower than the base's.
    base = AutoModelForCausalLM.from_pretrained(locate(ModelSpec("smollm2-135m-instruct")), dtype=torch.float32)
    rows = [json.loads(x) for x in path.read_text().splitlines()[:8]]
    items = [data.tokenize_row("prompt_response", r, smollm2.tokenizer) for r in rows]
    batch = train._Examples(items, smollm2.tokenizer.pad_token_id, "causal").batch(list(range(8)), "cpu")
    with torch.no_grad():
        base_loss = base(**batch).loss.item()
        base_logits = base(**batch).logits
        tuned = PeftModel.from_pretrained(base, adapter_dir)
        tuned_loss = tuned(**batch).loss.item()
        tuned_logits = tuned(**batch).logits
    assert tuned_loss < 0.5 * base_loss, (base_loss, tuned_loss)
    assert not torch.allclose(base_logits, tuned_logits, atol=1e-3)  # the adapter changes the output


def test_classification_lora_saves_the_classifier_head(tmp_path):
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification

    path = small_file(tmp_path, "demo_sentiment_train.jsonl", 64)
    result = start_run(tmp_path, model="minilm-l6", task="classification", data=str(path), max_steps=8,
                       batch_size=8, learning_rate=3e-3, warmup_steps=0, validation_fraction=0.25, eval_every=8,
                       cpu_threads=1, precision="fp32")  # bf16 would store the base in bfloat16: not a fp32 reload
    adapter_dir = tmp_path / "run" / "adapter"
    assert result.status == "done" and result.val_loss is not None
    with safe_open(str(adapter_dir / "adapter_model.safetensors"), "pt") as f:
        assert any("classifier" in k for k in f.keys())  # modules_to_save: the new head travels with the adapter
    meta = adapters.read_adapter(adapter_dir)
    assert meta.task == "classification" and meta.metadata["labels"] == ["negative", "positive"]
    base = AutoModelForSequenceClassification.from_pretrained(locate(ModelSpec("minilm-l6")), num_labels=2)
    model = PeftModel.from_pretrained(base, adapter_dir).eval()
    batch = train.prepare_data(LoraRunConfig(model="minilm-l6", task="classification", data=str(path),
                                             validation_fraction=0.25), _minilm_tokenizer())[2]
    with torch.no_grad():
        loss = model(**batch.batch(list(range(len(batch.items))), "cpu")).loss.item()
    assert loss == pytest.approx(result.val_loss, rel=1e-4)  # reloaded adapter = trained model


def _minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(locate(ModelSpec("minilm-l6")))
