# raybench: `make run` sets up and runs the baseline; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/baseline.yaml

.PHONY: venv run quick test test-long lint bench clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: venv
	$(BIN)/raybench run $(CONFIG)

quick: venv
	$(BIN)/raybench run configs/quick.yaml

lint: venv
	$(BIN)/ruff check raybench tests scripts examples

test: venv lint
	$(BIN)/python -m pytest -q -m "not long" tests

test-long: venv
	$(BIN)/python -m pytest -q -m long tests

bench: venv
	@for s in scripts/bench_*.py; do echo "== $$s"; $(BIN)/python $$s || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
