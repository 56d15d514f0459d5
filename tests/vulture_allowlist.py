"""Names vulture cannot see being used: framework hooks, fixtures asked for by name, dataclass fields read by
`asdict` or shown in tables. A name belongs here only with the reason beside it."""

# ruff: noqa: F821, B018
pytest_collection_modifyitems  # pytest hook
pytest_runtest_makereport  # pytest hook (tests/e2e/conftest.py: a screenshot of a failed browser test)
torch_threads_restored  # autouse fixture (tests/conftest.py)
workspace_with_adapter  # fixture, requested by parameter name
workspace_home_module  # fixture, requested by parameter name
on_step_begin  # transformers TrainerCallback hook (bench/finetune.py)
on_train_begin  # transformers TrainerCallback hook (bench/finetune.py)
on_step_end  # transformers TrainerCallback hook
hf_quantizer  # set to None so save_pretrained accepts a GGUF-loaded model
row_factory  # sqlite3.Connection attribute
downsampled  # MapView field, read by pages and tests through the dataclass
logprob  # TokenProb field, exported with asdict
tokens_per_s  # TrainResult field, printed by the CLI through asdict
_child  # bench/attention.py runs it in a child process through `python -c`
navigation_as_a_server_does  # autouse fixture (tests/pages/test_guard.py)
