# cloudclaude: `make up` runs the whole system, `make test` runs every check. Debian 12, as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the system and its tests need (installed only when missing).
SYSTEM_PACKAGES := postgresql postgresql-client python3-venv python3-dev gcc curl openssh-client \
	procps iproute2 util-linux systemd

.PHONY: up test system-deps lint typing unit integration bench clean help

help:
	@echo "make up     install what is needed and run cloudclaude (Ctrl-C stops it)"
	@echo "make test   install test dependencies and run ruff, mypy and the whole test suite"
	@echo "make bench  run the benchmarks in bench/"

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "==> installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "==> installing cloudclaude into $(VENV)"
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	@echo "==> installing cloudclaude and its test dependencies into $(VENV)"
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

up: system-deps $(VENV)/.installed
	$(BIN)/cloudclaude up $(if $(CONFIG),--config $(CONFIG))

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typing: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest tests/unit

integration: system-deps $(VENV)/.installed-test
	$(BIN)/pytest tests/integration

# pytest exits 5 when it collected nothing: that is a broken suite, reported as such.
test: system-deps $(VENV)/.installed-test lint typing
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken"; fi; \
	exit $$rc

bench: system-deps $(VENV)/.installed-test
	$(BIN)/python -m bench.api

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
