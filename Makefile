# Two commands: `make run` (set up on first use, then serve the app on 127.0.0.1) and
# `make test` (same set-up, then the whole suite, browser tests included); then `make notebook`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.workbench-installed
PORT   ?= 8501
NB_PORT ?= 8888

export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1

.PHONY: setup run notebook test lint bench browser clean

setup: $(STAMP)

# Reinstalls only when a requirements file changes; a second `make run` starts in seconds.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml scripts/setup_assets.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	bash scripts/setup_assets.sh
	touch $(STAMP)

run: setup
	$(PY) -m workbench prepare
	@echo "LLM Workbench: http://127.0.0.1:$(PORT)"
	$(VENV)/bin/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# JupyterLab on loopback with the project's kernel ("LLM Workbench", registered inside .venv, offline), opened on
# notebooks/; no update or news checks and a read-only extension manager (nothing dials out); the preferred kernel
# starts without a dialog (scripts/jupyterlab/overrides.json); --allow-root only for root.
notebook: setup
	$(PY) -m ipykernel install --sys-prefix --name llm-workbench --display-name "LLM Workbench" \
		--env HF_HUB_OFFLINE 1 --env HF_DATASETS_OFFLINE 1 >/dev/null
	$(PY) -m workbench prepare
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(NB_PORT) --no-browser \
		--ServerApp.root_dir=notebooks --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		--LabApp.extension_manager=readonly \
		--LabApp.app_settings_dir=scripts/jupyterlab $(if $(filter 0,$(shell id -u)),--allow-root)

browser:
	bash scripts/ensure_chromium.sh

# ruff (style, import order, function size) and vulture (dead code); both configured in pyproject.toml.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/vulture

test: setup browser lint
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --durations=40

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) .cache tests/e2e/artifacts
