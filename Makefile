# cloudclaude: `make up` runs the whole system, `make test` runs every check. Debian 12, as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the system and its tests need (installed only when missing).
SYSTEM_PACKAGES := postgresql postgresql-client python3-venv python3-dev gcc curl openssh-client \
	procps iproute2 util-linux systemd docker.io debootstrap e2fsprogs tar \
	nftables iptables restic rsync sshfs fuse3 openssh-sftp-server
DOCKER_PING := curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://docker/_ping
# Debian packages `make deb` needs, and the package test (a Debian 12 root booted with
# systemd-nspawn, tests/integration/test_deb_package.py).
DEB_PACKAGES := dpkg-dev python3-venv systemd-container debootstrap
# Headless Chromium for the browser tests (make test only; Playwright drives /usr/bin/chromium).
BROWSER_PACKAGES := chromium fonts-liberation fonts-dejavu-core
# Outside peers of the TLS tests (make test only): Caddy in front of the daemon with its
# internal CA, and the testssl.sh audit of the live listener.
TLS_TEST_PACKAGES := caddy testssl.sh
# Exit servers that are not sing-box, run by the egress tests inside the simulated internet's
# namespace (make test only): a CONNECT-only SOCKS5 server, an HTTP proxy, shadowsocks-libev,
# v2ray (vmess, vless) and trojan-gfw.
EXIT_TEST_PACKAGES := microsocks tinyproxy shadowsocks-libev v2ray trojan
# Front-end files: pinned in web/assets/package{,-lock}.json, installed from the npm registry
# into a scratch node_modules under build/, and only the files below are copied into
# web/static/vendor/ (git-ignored), served as /static/vendor/... Nothing comes from a CDN.
WEB_ASSETS := web/assets
WEB_NODE := build/web-assets
WEB_VENDOR := web/static/vendor
# "<file in node_modules>:<path under web/static/vendor>"
VENDOR_FILES := \
	htmx.org/dist/htmx.min.js:htmx.min.js \
	htmx-ext-sse/dist/sse.js:htmx-ext-sse.js \
	@xterm/xterm/lib/xterm.js:xterm.js \
	@xterm/xterm/css/xterm.css:xterm.css \
	@xterm/addon-fit/lib/addon-fit.js:xterm-addon-fit.js \
	htmx.org/LICENSE:licenses/htmx.org.txt \
	htmx-ext-sse/LICENSE:licenses/htmx-ext-sse.txt \
	@xterm/xterm/LICENSE:licenses/xterm.txt \
	@xterm/addon-fit/LICENSE:licenses/xterm-addon-fit.txt

# $(call apt-install,PACKAGES): install the Debian packages that are missing.
define apt-install
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "==> installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

.PHONY: up test deb deb-deps system-deps browser-deps tls-test-deps exit-test-deps node-deps web-assets dockerd image lint \
	typing unit integration bench clean help

help:
	@echo "make up     install what is needed and run cloudclaude (Ctrl-C stops it)"
	@echo "make test   install test dependencies and run ruff, mypy and the whole test suite"
	@echo "make image  build the box image (make up does this too)"
	@echo "make deb    build dist/cloudclaude_<version>_amd64.deb (systemd units, venv in /opt)"
	@echo "make web-assets  install the pinned htmx/xterm.js files into web/static/vendor/"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make fuzz   send 10^5 fuzzed frames to the agent and ctl sockets and print the figures;"
	@echo "           then 300 schemathesis examples per API operation against a live daemon"

system-deps:
	$(call apt-install,$(SYSTEM_PACKAGES))

browser-deps:
	$(call apt-install,$(BROWSER_PACKAGES))

tls-test-deps:
	$(call apt-install,$(TLS_TEST_PACKAGES))

exit-test-deps:
	$(call apt-install,$(EXIT_TEST_PACKAGES))

deb-deps:
	$(call apt-install,$(DEB_PACKAGES))

# The package pins the versions this checkout's .venv tested when there is one.
deb: deb-deps web-assets
	$(if $(wildcard $(BIN)/pip),$(BIN)/pip freeze --exclude-editable > build/deb-constraints.txt;) \
	CONSTRAINTS=$(if $(wildcard $(BIN)/pip),build/deb-constraints.txt) systemd/build-deb.sh dist

web-assets: $(WEB_VENDOR)/.stamp

# Node and npm: Debian's packages when none is on PATH (any npm reading lock file v3 will do).
node-deps:
	@command -v npm >/dev/null 2>&1 || { echo "==> installing Debian packages: nodejs npm"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; }

# npm ci checks every package against the lock file's integrity hashes; --ignore-scripts runs
# none of their install scripts. The vendor folder is replaced whole, the stamp written last.
$(WEB_VENDOR)/.stamp: $(WEB_ASSETS)/package.json $(WEB_ASSETS)/package-lock.json Makefile | node-deps
	@echo "==> installing front-end assets into $(WEB_VENDOR)"
	@rm -rf $(WEB_NODE) $(WEB_VENDOR).tmp && mkdir -p $(WEB_NODE) $(WEB_VENDOR).tmp
	@cp $(WEB_ASSETS)/package.json $(WEB_ASSETS)/package-lock.json $(WEB_NODE)/
	@cd $(WEB_NODE) && npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error
	@set -e; for pair in $(VENDOR_FILES); do \
		src=$(WEB_NODE)/node_modules/$${pair%%:*}; dst=$(WEB_VENDOR).tmp/$${pair#*:}; \
		mkdir -p $$(dirname $$dst); cp $$src $$dst; \
	done
	@cd $(WEB_NODE) && node -p "Object.entries(require('./package-lock.json').packages) \
		.filter(([k]) => k).map(([k, v]) => k.slice(13) + ' ' + v.version).join('\n')" \
		> $(CURDIR)/$(WEB_VENDOR).tmp/VERSIONS
	@rm -rf $(WEB_VENDOR) && mv $(WEB_VENDOR).tmp $(WEB_VENDOR)
	@touch $@

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

up: image web-assets
	$(BIN)/cloudclaude up $(if $(CONFIG),--config $(CONFIG))

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typing: $(VENV)/.installed-test
	$(BIN)/mypy

unit: web-assets $(VENV)/.installed-test
	$(BIN)/pytest tests/unit

integration: dockerd web-assets browser-deps tls-test-deps exit-test-deps deb-deps \
	$(VENV)/.installed-test
	$(BIN)/pytest tests/integration

# pytest exits 5 when it collected nothing: that is a broken suite, reported as such.
test: dockerd web-assets browser-deps tls-test-deps exit-test-deps deb-deps $(VENV)/.installed-test \
	lint typing
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
	$(BIN)/python -m bench.mount
	$(BIN)/python -m bench.reconnect

# Hypothesis-drawn and mutated frames to a real agent and a real daemon's ctl socket
# (bench/fuzz_sockets.py; make test runs 10,000 of them in tests/integration/test_socket_fuzz.py).
.PHONY: fuzz
fuzz: $(VENV)/.installed-test
	$(BIN)/python -m bench.fuzz_sockets --frames 100000
	API_FUZZ_EXAMPLES=300 $(BIN)/pytest -q tests/integration/test_api_contract.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(WEB_NODE) $(WEB_VENDOR)
