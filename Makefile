# ibpilot: the two commands a newcomer needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all deps venv jars demo test lint unit integration system bench fuzz chaos clean image

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

## lint + pip-audit of the pins (a clear skip offline) + every test (unit, integration on Xvfb with real JVMs, system under supervisord)
test: lint jars
	PIP_AUDIT=$(BIN)/pip-audit bash scripts/pip-audit.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile -q tests

unit: venv
	$(BIN)/python -m pytest -q tests/unit

## the container image ibpilot:sim (Docker, or buildah/podman on a locally made Debian base)
image:
	bash scripts/build-image.sh

bench: jars
	$(BIN)/python bench/run_all.py

## coverage-guided fuzzing (atheris) of each parser, FUZZ_TIME seconds each; new finds go into fuzz/corpus/
FUZZ_TIME ?= 300
fuzz: jars
	for t in settings conf agent commands scenario; do \
	  $(BIN)/python fuzz/fuzz_$$t.py -max_total_time=$(FUZZ_TIME) -timeout=30 -rss_limit_mb=4096 fuzz/corpus/$$t || exit 1; \
	done

## every chaos row -> docs/reliability.md's table, then a soak
## of random faults until CHAOS_SOAK_RESTARTS JVM restarts or CHAOS_SOAK_S seconds (recovery percentiles, RSS over time)
CHAOS_SOAK_S ?= 5400
CHAOS_SOAK_RESTARTS ?= 100
chaos: jars
	$(BIN)/python scripts/chaos.py table --run
	$(BIN)/python scripts/chaos.py soak --seconds $(CHAOS_SOAK_S) --restarts $(CHAOS_SOAK_RESTARTS)

clean:
	rm -rf $(VENV) src/ibpilot/_jars build *.egg-info
