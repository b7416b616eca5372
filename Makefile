# Every target that needs the environment depends on `setup`, so on a fresh clone
# `make test` (or `make main`) alone installs everything it needs.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
EXP    ?= tifa_meta_eval
# make reproduce-tables: quick (1 seed, main rows) or full (3 seeds, every ablation)
PROFILE ?= quick
# make reproduce-tables: how many runs execute at once (empty: cores // T2I_THREADS, at least 1)
JOBS ?=
# One torch thread by default in tests: 2 threads stall when anything else runs (see README).
export T2I_THREADS ?= 1

.PHONY: setup test test-slurm test-all lint format bench bases main run reproduce-tables clean help

help:
	@echo "make setup   - create $(VENV) and install the project (editable) with dev extras"
	@echo "make test    - the fast test suite (what CI runs)"
	@echo "make test-slurm - sweeps on a real one-node SLURM cluster (installs it as root if missing; CI runs it)"
	@echo "make lint    - ruff check + format check + import contracts (lint-imports)"
	@echo "make main    - the main job: python -m experiments.run +exp=$(EXP)"
	@echo "make run EXP=<name> ARGS='key=value ...' - any experiment"
	@echo "make bases   - pretrain (or reuse from the cache) the tiny base models"
	@echo "make reproduce-tables [PROFILE=full] [JOBS=N] [ARGS='--only <table> | --dry-run'] - the papers' tables in results/ (finished runs are reused; N runs at once, default cores // T2I_THREADS)"
	@echo "make bench   - benchmarks (speed / memory numbers; not part of the tests)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(PY) -m pytest -q -m "not slow and not gpu and not slurm" --timeout=900

# Kept out of `make test`: it installs system packages (apt-get, as root) and starts daemons.
# scripts/slurm_local.sh starts the cluster; tests/test_slurm_cluster.py stops it again.
test-slurm: setup
	$(PY) -m pytest -q -m slurm --timeout=1800

test-all: setup
	$(PY) -m pytest -q -m "not gpu" --timeout=3600

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

main: setup
	$(PY) -m experiments.run +exp=$(EXP) $(ARGS)

run: main

bases: setup
	$(PY) -m experiments.run +exp=pretrain_all $(ARGS)

reproduce-tables: setup
	$(PY) -m experiments.reproduce --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS)) $(ARGS)

bench: setup
	$(PY) -m experiments.bench

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
