"""The public API: `import workbench` stays cheap, help(wb) lists every function with an example, capability
packages keep working under their own names, and a fine-tune job handle waits, reports and draws its curves."""

import json
import pydoc
import subprocess
import sys
from pathlib import Path

import pytest

import workbench as wb
from workbench.finetune.jobs import JobError

ROOT = Path(__file__).resolve().parents[2]


def test_import_workbench_loads_neither_torch_nor_the_api():
    code = "import sys, workbench; print('torch' in sys.modules, 'workbench.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_help_lists_every_api_function_with_an_example():
    text = pydoc.render_doc(wb, renderer=pydoc.plaintext)
    for name in wb.__all__:
        assert name in text
        if name != "FinetuneJob":
            assert ">>>" in getattr(sys.modules["workbench.api"], name).__doc__, name


def test_capability_packages_stay_packages_and_run_the_api_when_called(smollm2):
    from workbench import bias

    assert hasattr(bias, "run_probe") and callable(wb.bias) and wb.attention is sys.modules["workbench.attention"]
    a = wb.attention(smollm2, "Hello there", layers=[0])
    assert a.core.layers == [0]


def test_finetune_job_waits_with_a_bar_and_draws_its_curves(tmp_path, workspace_home):
    lines = (ROOT / "data" / "demo_dates_train.jsonl").read_text().splitlines()[:16]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    job = wb.finetune(data=str(tmp_path / "train.jsonl"), adapter_name="nb-tiny", max_steps=2, batch_size=2,
                      max_length=48, warmup_steps=0, eval_every=2, save_every=2, cpu_threads=1)
    assert job.wait(timeout_s=300) is job and job.status == "done"
    curves = job.curves()
    assert (curves.to_pandas()["kind"] == "train").sum() == 2
    assert len(curves.figure().data) >= 1 and "done" in repr(job)
    with pytest.raises(JobError, match="only a stopped or failed job"):
        job.resume()


def test_attribute_returns_a_result_with_the_panel_views_table_and_json(smollm2, tmp_path):
    r = wb.attribute(smollm2, "The nurse said that", target=" she", contrast=" he", method="gxi", steps=4,
                     panel=True)
    assert set(r.views) == {"tokens", "methods", "correlations"}
    table = r.to_pandas()
    assert list(table.columns) == ["position", "token", "rollout", "gxi", "ig", "occlusion", "compared"]
    assert r.figure().data[0].y == pytest.approx(table["gxi"].round(5).tolist())
    assert r.figure("correlations").data[0].z[0][0] == 1
    assert "logit('␣she') - logit('␣he')" in r.summary and "text/html" in r._repr_mimebundle_()
    assert json.loads(r.save(tmp_path / "a.json").read_text())["result"]["message"] == r.core.message
    one = wb.attribute(smollm2, "The nurse said that", method="occlusion")
    assert set(one.views) == {"tokens"} and one.to_pandas()["score"].iloc[-1] != 0
