# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
# (On a machine without make: `apt-get install make`, or run the recipes below by hand.)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench bench-controller bench-live bench-replay bench-memory bench-locust lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# Main job: the smoke scenario against the embedded reference controller; report in reports/smoke.
run: $(BIN)/.installed
	$(BIN)/harness run scenarios/smoke.toml --out reports/smoke

# The tests' Debian tools (chromium for the report tests, nginx-light for capacity) are
# installed first when missing (as root, with apt-get); then two test processes.
test: $(BIN)/.installed
	$(BIN)/python tests/support/debian.py
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(BIN)/.installed
	$(BIN)/ruff check harness tests bench

# Transport benchmark (about 6 minutes); rewrites the table in README.md.
bench: $(BIN)/.installed
	$(BIN)/python bench/transport_bench.py --update-doc README.md

bench-controller: $(BIN)/.installed
	$(BIN)/python bench/controller_bench.py

# The live view's cost: achieved rate with and without it, same run (docs/terminal.md).
bench-live: $(BIN)/.installed
	$(BIN)/python bench/live_view_bench.py
# Recording and replay benchmark (reading, replay memory and rate, proxy overhead; ~15 minutes).
bench-replay: $(BIN)/.installed
	$(BIN)/python bench/replay_bench.py
# Memory soak (about 11 minutes): `harness run --rate 2000 --duration 10m` on the embedded
# controller, RSS of every process over time; exits 1 if any grows 10 MB (medians of the
# second and the last minute). `BENCH_MEMORY_ARGS=--quick` for a 2-minute try.
bench-memory: $(BIN)/.installed
	$(BIN)/python bench/soak_memory.py $(BENCH_MEMORY_ARGS)
# Locust benchmark (about 4 minutes): instrumentation cost and the engine on a Locust worker.
bench-locust: $(BIN)/.installed
	$(BIN)/python bench/locust_bench.py --update-doc docs/locust.md
