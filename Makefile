# Every target installs what it needs into .venv from pyproject.toml first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-faults lint run demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not faults"

# The embedded broker's durable storage slows down as it grows: 500 deliveries fit in about
# 3 minutes on 2 cores. FAULTS_DELIVERIES=10000 needs Apache Kafka or a faster S3 server.
FAULTS_DELIVERIES ?= 500
FAULTS_ALERTS ?= 150
FAULTS_ALERT_BURST ?= 60
export FAULTS_DELIVERIES FAULTS_ALERTS FAULTS_ALERT_BURST

test-faults: $(STAMP)
	$(BIN)/python -m pytest -m faults

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

run: $(STAMP)
	$(BIN)/python -m devstack.run

demo: $(STAMP)
	$(BIN)/python -m devstack.run --demo

bench: $(STAMP)
	$(BIN)/python -m devstack.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
