# cloudclaude: `make up` runs the whole system, `make test` runs every check. Debian 12, as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the system and its tests need (installed only when missing).
SYSTEM_PACKAGES := postgresql postgresql-client python3-venv python3-dev gcc curl openssh-client \
	procps iproute2 util-linux systemd docker.io debootstrap e2fsprogs tar \
	nftables iptables
DOCKER_PING := curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://docker/_ping

.PHONY: up test system-deps dockerd image lint typing unit integration bench clean help

help:
	@echo "make up     install what is needed and run cloudclaude (Ctrl-C stops it)"
	@echo "make test   install test dependencies and run ruff, mypy and the whole test suite"
	@echo "make image  build the box image (make up does this too)"
	@echo "make bench  run the benchmarks in bench/"

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "==> installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# dockerd: systemd's docker.service where systemd runs, else started in the background.
dockerd: system-deps
	@if ! $(DOCKER_PING) >/dev/null 2>&1; then \
		echo "==> starting dockerd"; \
		if [ -d /run/systemd/system ]; then systemctl start docker; \
		else mkdir -p /var/log/cloudclaude; \
			setsid /usr/sbin/dockerd >>/var/log/cloudclaude/dockerd.log 2>&1 </dev/null & fi; \
		for i in $$(seq 150); do $(DOCKER_PING) >/dev/null 2>&1 && break; sleep 0.2; done; \
		$(DOCKER_PING) >/dev/null 2>&1 || { echo "dockerd did not answer; see /var/log/cloudclaude/dockerd.log"; exit 1; }; \
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

image: dockerd $(VENV)/.installed
	$(BIN)/cloudclaude image build $(if $(CONFIG),--config $(CONFIG))

up: image
	$(BIN)/cloudclaude up $(if $(CONFIG),--config $(CONFIG))

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typing: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest tests/unit

integration: dockerd $(VENV)/.installed-test
	$(BIN)/pytest tests/integration

# pytest exits 5 when it collected nothing: that is a broken suite, reported as such.
test: dockerd $(VENV)/.installed-test lint typing
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken"; fi; \
	exit $$rc

bench: dockerd $(VENV)/.installed-test
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.box_start
	$(BIN)/python -m bench.api_hosts
	$(BIN)/python -m bench.concurrent_starts
	$(BIN)/python -m bench.egress_throughput
	$(BIN)/python -m bench.bootstrap
	$(BIN)/python -m bench.ssh_throughput
	$(BIN)/python -m bench.ssh_latency

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
