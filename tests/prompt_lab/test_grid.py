"""Grid specs read the shared no-adapter label, so a page can offer it next to the registered adapters."""

from workbench.models.adapters import BASE_CHOICE
from workbench.prompt_lab.grid import GridSpec


def test_the_no_adapter_label_and_its_spellings_mean_the_base_model():
    spec = GridSpec.from_dict({"template": "Say {x}", "rows": [{"x": "hi"}],
                               "adapters": [BASE_CHOICE, "base", None, "", "my-lora"]})
    assert spec.adapters == (None, None, None, None, "my-lora")
