# onethinker: all set-up goes through these targets (a virtual environment in .venv and pip).
# Every environment installs from its checked-in lock (locks/*.txt, exact versions, used as pip constraints so
# `pip install -e .` still reads pyproject's ranges): a fresh clone gets the versions the suite last passed on,
# whatever was released since. `make lock` regenerates the locks; `make test-latest` tries the newest releases.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.onethinker-installed
DEMO_OUT ?= runs/demo
LOCK   := locks/main.txt

.PHONY: setup test test-all test-latest demo bench lock clean

setup: $(STAMP)

# Re-installs only when pyproject.toml or the lock changes; a second `make setup` is a no-op.
# SAM2 goes in after torch and builds against it (no isolated build environment, which would fetch
# a second torch; no CUDA extension, which SAM2 only uses to fill small holes in masks).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(LOCK) -e ".[dev]"
	SAM2_BUILD_CUDA=0 $(PY) -m pip install -q --no-build-isolation -c $(LOCK) "sam2>=1.1"
	@touch $(STAMP)

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

demo: setup
	$(VENV)/bin/onethinker demo --out $(DEMO_OUT)

bench: setup
	$(PY) -m pip install -q -c $(LOCK) -e ".[bench]"
	$(PY) benchmarks/rewards.py
	$(PY) benchmarks/rl_step.py

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(TOOLS_VENV) build *.egg-info .pytest_cache .hypothesis

# Upstream drift on purpose: a separate environment from the newest releases pyproject's ranges allow (no lock),
# then the default suite. What breaks here breaks for library users today: fix it, or narrow the range.
LATEST_VENV ?= .venv-latest
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade -e ".[dev]"
	SAM2_BUILD_CUDA=0 $(LATEST_VENV)/bin/python -m pip install -q --no-build-isolation "sam2>=1.1"
	$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable > $(LATEST_VENV)/versions.txt
	@echo "newest releases: $(LATEST_VENV)/versions.txt; against the lock:"
	@$(LATEST_VENV)/bin/python scripts/lock_diff.py $(LOCK) $(LATEST_VENV)/versions.txt
	$(LATEST_VENV)/bin/python -m pytest -q

# Regenerate the locks with pip-compile (pip-tools, in its own environment .venv-tools) from pyproject's ranges,
# resolved against locks/torch.in (the torch pair the locks are built on). Review the diff, run `make test`, commit.
TOOLS_VENV  ?= .venv-tools
PIP_COMPILE := $(TOOLS_VENV)/bin/pip-compile -q --upgrade --strip-extras --allow-unsafe --no-emit-index-url \
               --no-emit-find-links -c locks/torch.in
lock:
	@test -x $(TOOLS_VENV)/bin/pip-compile || ($(PYTHON) -m venv $(TOOLS_VENV) && \
	  $(TOOLS_VENV)/bin/python -m pip install -q --upgrade pip "pip-tools>=7.5,<8")
	$(PIP_COMPILE) --extra dev --extra app --extra bench --extra sam2 -o locks/main.txt pyproject.toml
	$(PIP_COMPILE) --extra verl -o locks/verl.txt pyproject.toml locks/test.in
	$(PIP_COMPILE) --extra lmms -o locks/lmms.txt pyproject.toml locks/test.in

# verl (distributed RL engine) in its own environment: verl pins its own transformers. `make test` does not
# use it; tests/test_verl.py runs with `$(VERL_VENV)/bin/python -m pytest tests/test_verl.py`.
# CPU by default (torch and torchvision from PyPI, a matching pair). GPU nodes:
# `make verl-env VERL_GPU=1` (verl's tested stack: torch 2.11.0 and vLLM 0.24.0, its "vllm" extra).
VERL_VENV  ?= .venv-verl
VERL_STAMP := $(VERL_VENV)/.onethinker-verl-installed
# the CPU environment installs from its lock; the GPU one (VERL_GPU=1) from verl's own tested pins
VERL_LOCK  := locks/verl.txt
ifeq ($(VERL_GPU),1)
VERL_TORCH ?= torch==2.11.0
VERL_EXTRA ?= verl[vllm]==0.9.1
else
VERL_TORCH ?= torch torchvision
VERL_EXTRA ?=
endif
.PHONY: verl-env

verl-env: $(VERL_STAMP)

$(VERL_STAMP): pyproject.toml $(VERL_LOCK)
	@test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install -q $(if $(VERL_EXTRA),,-c $(VERL_LOCK)) $(VERL_TORCH) -e ".[verl]" "pytest>=8" \
	  $(if $(VERL_EXTRA),"$(VERL_EXTRA)")
	$(VERL_VENV)/bin/python -m onethinker.integrations.verl.plugin --check
	@touch $(VERL_STAMP)

# lmms-eval (the paper's image-QA benchmarks, `lmms-eval --model onethinker`, `onethinker eval --suite paper`)
# in its own environment: lmms-eval 0.7.3 pins av<16 and would pull math-verify back to 0.1. `make test` does
# not use it; tests/test_lmms_eval.py runs with `$(LMMS_VENV)/bin/python -m pytest tests/test_lmms_eval.py`.
LMMS_VENV  ?= .venv-lmms
LMMS_STAMP := $(LMMS_VENV)/.onethinker-lmms-installed
LMMS_LOCK  := locks/lmms.txt
.PHONY: lmms-env

lmms-env: $(LMMS_STAMP)

$(LMMS_STAMP): pyproject.toml $(LMMS_LOCK)
	@test -x $(LMMS_VENV)/bin/python || $(PYTHON) -m venv $(LMMS_VENV)
	$(LMMS_VENV)/bin/python -m pip install -q -c $(LMMS_LOCK) torch torchvision -e ".[lmms]" "pytest>=8"
	$(LMMS_VENV)/bin/python -m onethinker.integrations.lmms_eval --check
	@touch $(LMMS_STAMP)
