# ibpilot: the two commands a newcomer needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all deps venv jars demo test lint unit integration system bench clean

all: venv

deps:
	bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml constraints.txt setup.py
	bash scripts/install-system-deps.sh
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[test,dev]'
	touch $(STAMP)

venv: $(STAMP)

jars: venv
	$(BIN)/python src/ibpilot/_build.py --stale

## the whole stack on the simulated Gateway; prints how to connect
demo: jars
	$(BIN)/ibpilot demo

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## lint + every test (unit, integration on Xvfb with real JVMs, system under supervisord)
test: lint jars
	$(BIN)/python -m pytest -n 2 --dist loadfile -q tests

unit: venv
	$(BIN)/python -m pytest -q tests/unit

bench: jars
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) src/ibpilot/_jars build *.egg-info
