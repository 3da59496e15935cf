# onethinker: all set-up goes through these targets (a virtual environment in .venv and pip).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.onethinker-installed
DEMO_OUT ?= runs/demo

.PHONY: setup test test-all demo bench clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes; a second `make setup` is a no-op.
# SAM2 goes in after torch and builds against it (no isolated build environment, which would fetch
# a second torch; no CUDA extension, which SAM2 only uses to fill small holes in masks).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[dev]"
	SAM2_BUILD_CUDA=0 $(PY) -m pip install -q --no-build-isolation "sam2>=1.1"
	@touch $(STAMP)

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

demo: setup
	$(VENV)/bin/onethinker demo --out $(DEMO_OUT)

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/rewards.py
	$(PY) benchmarks/rl_step.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

# verl (distributed RL engine) in its own environment: verl pins its own transformers. `make test` does not
# use it; tests/test_verl.py runs with `$(VERL_VENV)/bin/python -m pytest tests/test_verl.py`.
# CPU by default (torch and torchvision from PyPI, a matching pair). GPU nodes:
# `make verl-env VERL_GPU=1` (verl's tested stack: torch 2.11.0 and vLLM 0.24.0, its "vllm" extra).
VERL_VENV  ?= .venv-verl
VERL_STAMP := $(VERL_VENV)/.onethinker-verl-installed
ifeq ($(VERL_GPU),1)
VERL_TORCH ?= torch==2.11.0
VERL_EXTRA ?= verl[vllm]==0.9.1
else
VERL_TORCH ?= torch torchvision
VERL_EXTRA ?=
endif
.PHONY: verl-env

verl-env: $(VERL_STAMP)

$(VERL_STAMP): pyproject.toml
	@test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install -q $(VERL_TORCH) -e ".[verl]" "pytest>=8" $(if $(VERL_EXTRA),"$(VERL_EXTRA)")
	$(VERL_VENV)/bin/python -m onethinker.integrations.verl.plugin --check
	@touch $(VERL_STAMP)

# lmms-eval (the paper's image-QA benchmarks, `lmms-eval --model onethinker`, `onethinker eval --suite paper`)
# in its own environment: lmms-eval 0.7.3 pins av<16 and would pull math-verify back to 0.1. `make test` does
# not use it; tests/test_lmms_eval.py runs with `$(LMMS_VENV)/bin/python -m pytest tests/test_lmms_eval.py`.
LMMS_VENV  ?= .venv-lmms
LMMS_STAMP := $(LMMS_VENV)/.onethinker-lmms-installed
.PHONY: lmms-env

lmms-env: $(LMMS_STAMP)

$(LMMS_STAMP): pyproject.toml
	@test -x $(LMMS_VENV)/bin/python || $(PYTHON) -m venv $(LMMS_VENV)
	$(LMMS_VENV)/bin/python -m pip install -q torch torchvision -e ".[lmms]" "pytest>=8"
	$(LMMS_VENV)/bin/python -m onethinker.integrations.lmms_eval --check
	@touch $(LMMS_STAMP)
