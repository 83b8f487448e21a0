# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
# (On a machine without make: `apt-get install make`, or run the recipes below by hand.)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench bench-controller bench-locust lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# Main job: the smoke scenario against the embedded reference controller; report in reports/smoke.
run: $(BIN)/.installed
	$(BIN)/harness run scenarios/smoke.toml --out reports/smoke

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check harness tests bench

# Transport benchmark (about 6 minutes); rewrites the table in README.md.
bench: $(BIN)/.installed
	$(BIN)/python bench/transport_bench.py --update-doc README.md

bench-controller: $(BIN)/.installed
	$(BIN)/python bench/controller_bench.py

# Locust benchmark (about 4 minutes): instrumentation cost and the engine on a Locust worker.
bench-locust: $(BIN)/.installed
	$(BIN)/python bench/locust_bench.py --update-doc docs/locust.md
