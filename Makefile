# The README's commands. `make repro`: set up the venv and run the pipeline. `make test`: the test suite.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
# Stage commands call `python` and `dvc`: make them the venv's.
export PATH := $(BIN):$(PATH)
# pip's local-mirror notices ("Location ... is ignored") are noise here.
PIP_QUIET := { grep -v 'is ignored: it is neither a file nor a directory' || true; }

.PHONY: setup remote repro test test-fast lock clean-venv

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock 2>&1 | $(PIP_QUIET)
	$(BIN)/python -m pip install -q --no-deps -e . 2>&1 | $(PIP_QUIET)
	$(BIN)/python -m pip check
	touch $@

setup: $(VENV)/.installed remote

# The default DVC remote (shared cache): a local folder, no service needed. Written to .dvc/config.local
# (per machine, never committed); a default remote configured elsewhere (a team's S3) is kept.
# Another folder: `make setup REMOTE=/mnt/nas/seedbench-remote`. Teams: README, "Remote cache".
REMOTE ?= ../seedbench-remote
remote: $(VENV)/.installed
	$(BIN)/seedbench setup-remote "$(REMOTE)"

repro: setup
	dvc repro

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not e2e"

# Regenerate requirements.lock from the current venv (after changing pyproject.toml).
lock:
	$(BIN)/python -m pip freeze --exclude-editable 2>/dev/null | grep -v '^seedbench' > requirements.lock

clean-venv:
	rm -rf $(VENV)
