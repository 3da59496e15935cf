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
	$(PY) benchmarks/rewards.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
