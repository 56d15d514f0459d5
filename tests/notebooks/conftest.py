"""Notebook fixtures: a Jupyter kernel spec for the project's venv (registered in a temporary folder, no user
step), and one result of each type built on the embedded models."""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "llm-workbench"  # the notebooks' own kernel name, shadowed for the tests by JUPYTER_PATH


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory):
    """The notebooks' kernel, registered in a temporary folder ahead of any other: this interpreter with the
    checkout on the path, the hub offline and a throwaway workspace."""
    home = tmp_path_factory.mktemp("jupyter")
    spec = home / "kernels" / KERNEL
    spec.mkdir(parents=True)
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "WORKBENCH_HOME": str(home / "workspace"), "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "LLM Workbench", "language": "python", "env": env}))
    before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(home), before) if p)
    yield KERNEL
    if before is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = before


@pytest.fixture(scope="session")
def random_adapter(smollm2, tmp_path_factory):
    """A LoRA adapter folder with non-zero B on q/v, made on a fresh copy of the base."""
    import torch
    from peft import LoraConfig, get_peft_model

    from workbench.models import load

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    folder = tmp_path_factory.mktemp("adapter") / "random-lora"
    get_peft_model(load(smollm2.spec).model, config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def every_result(smollm2, random_adapter, tmp_path_factory):
    """One small result of each type the API returns, by name."""
    import workbench as wb

    text = tmp_path_factory.mktemp("eval") / "three.txt"
    text.write_text("The river runs south to the sea.\n\nBread needs flour, water, salt and yeast.\n\n"
                    "The train leaves at nine.\n")
    a = wb.attention(smollm2, "The cat sat on the mat.", layers=[1])
    g = wb.generate(smollm2, "The capital of France is", max_new_tokens=4)
    return {
        "attention": a,
        "attention_row": wb.attention_row(smollm2, a, 1, 0, 4),
        "contributions": wb.contributions(smollm2, "The cat sat on the mat.", token=-1),
        "generate": g,
        "decoding_step": wb.decoding_step(smollm2, g, 1, temperature=0.7, top_k=5),
        "grid": wb.grid(smollm2, {"template": "Say {w}.", "rows": [{"w": "hi"}, {"w": "no"}], "chat": False,
                                  "param_sets": [{"max_new_tokens": 3}]}),
        "evaluate": wb.evaluate(smollm2, text, ["perplexity"], adapters=[None, random_adapter], resamples=50),
        "compare_shift": wb.compare(smollm2, random_adapter, "The capital of France is", max_new_tokens=4),
        "compare_attention": wb.compare(smollm2, random_adapter, "The cat sat.", view="attention", layers=[0, 1]),
        "bias": wb.bias(smollm2, "pronouns", adapter=random_adapter, limit=3, use_cache=False),
    }
