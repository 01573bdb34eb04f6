# callcore: two commands on a fresh Debian 12 machine.
#   make demo   installs what is missing, starts Asterisk and the engine, runs simulated
#               seats and callers, prints what happened
#   make test   the whole suite (unit tests and end-to-end tests on a real Asterisk)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test deps services lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

deps:
	@./scripts/install-deps.sh
	@$(MAKE) --no-print-directory $(STAMP)

services: deps
	@./scripts/services.sh
	@$(BIN)/callcore asterisk provision

demo: services
	$(BIN)/callcore demo

test: services lint
	$(BIN)/pytest -q -n 3 --dist loadfile

# the load harness and micro-benchmarks of docs/benchmarks.md (figures, not assertions)
bench: services
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/callcore bench --rate 5 --seconds 30 --seats 120 --talk 10000
	$(BIN)/python benchmarks/ami_pipeline.py --copies 30 --repeat 3
	$(BIN)/python benchmarks/store_write.py --records 90000
	$(BIN)/python benchmarks/monitor_snapshot.py --app

# ruff (complexity included) and the import contracts of pyproject.toml
lint: deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf var .pytest_cache
