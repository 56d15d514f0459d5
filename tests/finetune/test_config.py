"""LoraRunConfig helpers a form is built from: declared defaults, and the Linear layers LoRA can target."""


import torch

from workbench.finetune.config import LoraRunConfig, default_target_modules, field_default, linear_module_names


def test_field_default_is_the_declared_default():
    made = LoraRunConfig()
    for name in ("rank", "learning_rate", "schedule", "response_only", "target_modules"):
        assert field_default(name) == getattr(made, name)


def test_linear_module_names_on_smollm2_include_the_default_targets(smollm2):
    # SmolLM2 is a Llama: these seven projections per layer, whether or not an earlier test injected LoRA
    names = linear_module_names(smollm2.model)
    assert names == sorted({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
    assert "lm_head" not in names
    assert set(default_target_modules(smollm2.info.model_type)) <= set(names)


def test_linear_module_names_on_minilm_include_the_default_targets(minilm):
    names = linear_module_names(minilm.model)
    assert {"query", "key", "value", "dense"} <= set(names)
    assert set(default_target_modules(minilm.info.model_type)) <= set(names)


def test_threads_use_every_core_unless_other_processes_keep_them_busy(monkeypatch, capsys):
    import os

    from workbench.finetune import config

    cores = os.cpu_count() or 1
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(config, "busy_cores", lambda: 0.2)  # an idle machine, whatever the load average says
        assert config.configure_cpu_threads() == cores
        monkeypatch.setattr(config, "busy_cores", lambda: float(cores))
        assert config.configure_cpu_threads() == 1  # every core busy with other work: one thread
        assert "other processes keep" in capsys.readouterr().out or cores == 1
        assert config.configure_cpu_threads(requested=1) == 1  # asked for: as asked
    finally:
        torch.set_num_threads(before)



def test_training_curves_tick_whole_steps_on_a_short_run():
    from workbench.finetune.figures import training_curves

    short = training_curves([{"kind": "train", "step": s, "loss": 1.0 / s, "lr": 1e-4} for s in (1, 2)])
    assert short.layout.xaxis.dtick == 1           # two steps: ticks 1 and 2, not 1.2, 1.4, ...
    long = training_curves([{"kind": "train", "step": s, "loss": 1.0 / s, "lr": 1e-4} for s in range(1, 41)])
    assert long.layout.xaxis.dtick is None
