# Pulse task runner. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PULSE := $(BIN)/pulse

.DEFAULT_GOAL := help
.PHONY: help venv tools up down status lint test demo smoke bench ci clean distclean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Pulse needs Python 3.11+; $(PYTHON) is $$($(PYTHON) --version 2>&1). Use make PYTHON=python3.11 ..."; exit 1; }
	@echo "make: creating $(VENV) and installing Pulse with its dev tools"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $@

venv: $(STAMP) ## create .venv and install Pulse with its dev extra

tools: ## tools the tests need beyond Python packages (promtool; idempotent)
	@bash deploy/ops/tools.sh

up: venv ## start the local Kafka broker and Redis (idempotent)
	$(PULSE) local up

down: ## stop what `make up` started
	@if [ -x $(PULSE) ]; then $(PULSE) local down; else bash deploy/local/stack.sh down; fi

status: venv ## show what the local stack runs where
	$(PULSE) local status

lint: venv ## ruff and mypy (strict on signals/ and topics/)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: venv tools up lint ## the whole test suite against the real local stack
	$(BIN)/pytest

demo: venv up ## stream a simulated quarter (1,000 accounts) through a live worker, then score it
	$(PULSE) demo --keep-worker $(DEMO_ARGS)

smoke: venv up ## the foundation check: a real faust worker moving messages through the broker
	$(PULSE) smoke

bench: venv up ## the benchmark suite (issue 8): ceiling, core, replay, worker, peers, latency, memory, recovery
	$(BIN)/python -m bench $(BENCH_ARGS)

ci: test ## exactly what CI runs (.ci/run also stops the stack afterwards)

clean: ## remove caches (keeps .venv and the local stack)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis

distclean: down clean ## also remove .venv and .pulse (downloaded broker, data, logs)
	rm -rf $(VENV) .pulse
