# Two commands a new user needs: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint typecheck pytest compat checkov serve bench cost clean mutation

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json $(wildcard patches/*.patch)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.installed
	$(PY) -m devhost demo

serve: $(VENV)/.installed
	$(PY) -m devhost

# The mixed workload (contention, refusals, policy limits), every outcome verified. Before and
# after a change: make bench BENCH_ARGS="--compare main --runs 3".
bench: $(VENV)/.installed
	$(PY) -m devhost bench --workload mixed --sagas 2000 $(BENCH_ARGS)

# Cosmos DB requests, documents, change feed, Event Hubs and an RU estimate per saga, counted
# against the local Cosmos-protocol server (docs/cosmos.md, "Cost per saga").
cost: $(VENV)/.installed node_modules/.installed
	$(PY) -m devhost cost --sagas $(or $(SAGAS),50)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed
	$(PY) -m mypy

pytest: $(VENV)/.installed $(if $(wildcard package.json),node_modules/.installed)
	$(PY) -m pytest $(PYTEST_ARGS)

# checkov (Bicep security policies) lives in its own venv: it pins an older pycep-parser.
checkov: .venv-checkov/bin/checkov
.venv-checkov/bin/checkov:
	tests/infra/run_checkov.sh --version

compat: $(VENV)/.installed $(if $(wildcard package.json),node_modules/.installed)
	scripts/compat.sh

# Mutation testing of domain/ and application/ with the fast tiers (not part of `make test`):
# prints the score of every file; fails under 90 % in any. Runs in a copy outside the tree.
mutation: $(VENV)/.installed
	PYTHON_BIN=$(abspath $(PY)) scripts/mutation.sh

test: lint typecheck .venv-checkov/bin/checkov pytest compat

clean:
	rm -rf $(VENV) .venv-* node_modules .devhost .mypy_cache .ruff_cache .pytest_cache
