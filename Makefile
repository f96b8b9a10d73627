# Profile Workbench — every set-up step lives here; a fresh clone needs only `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests need (installed once, only when missing). Spark needs a Java runtime: Debian's
# default-jre-headless, unless a `java` is already on the PATH (any JRE 8/11/17 will do).
DEBIAN_PACKAGES := chromium fonts-noto-cjk
JAVA_PACKAGE := default-jre-headless
STORE ?= data/workbench.duckdb
DEMO_DIR ?= data/demo
SEED ?= 20260901
DEMO_TERM ?= 2026-2027-1
SPECS ?= academic_emotion whole_person online_engagement
JOBS ?= 2
RUN_FLAGS ?=
PORT ?= 8866
SERVE_FLAGS ?=

.PHONY: install demo test bench clean system-deps serve

install: $(STAMP) system-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	@$(MAKE) --no-print-directory system-deps
	@touch $(STAMP)

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v java >/dev/null 2>&1 || missing="$$missing $(JAVA_PACKAGE)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

demo: install
	$(BIN)/workbench demo --store $(STORE) --dir $(DEMO_DIR) --seed $(SEED) --fresh
	@for spec in $(SPECS); do \
	  $(BIN)/workbench profile --term $(DEMO_TERM) --spec $$spec --store $(STORE) --out $(DEMO_DIR)/profiles || exit 1; \
	done
	$(BIN)/workbench mastery --term $(DEMO_TERM) --store $(STORE)
	$(BIN)/workbench alerts run --term $(DEMO_TERM) --store $(STORE)
	$(BIN)/workbench run-term --term $(DEMO_TERM) --store $(STORE) --out $(DEMO_DIR)/runs/$(DEMO_TERM) --jobs $(JOBS) $(RUN_FLAGS)
	$(BIN)/workbench recommend catalogue
	$(BIN)/workbench recommend partners --term $(DEMO_TERM) --store $(STORE) --save
	$(BIN)/workbench users demo --store $(STORE)

# The published apps behind login (users.yaml beside the store; `make demo` writes demo accounts and prints their
# passwords once). Listens on 127.0.0.1:$(PORT); put an HTTPS reverse proxy in front to serve a school network.
serve: install
	$(BIN)/workbench serve --store $(STORE) --port $(PORT) $(SERVE_FLAGS)

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/indicators.py
	@test -x benchmarks/_work/venv-pybkt/bin/python || { $(PYTHON) -m venv benchmarks/_work/venv-pybkt && benchmarks/_work/venv-pybkt/bin/python -m pip install --quiet "pybkt==1.4.3" "numpy<2.4" "scikit-learn<1.8" pandas; } || echo "pyBKT reference environment not available; mastery benchmark runs without it"
	$(BIN)/python benchmarks/mastery.py
	$(BIN)/python benchmarks/term_run.py
	$(BIN)/python benchmarks/builder.py
	$(BIN)/python benchmarks/apps.py
	$(BIN)/python benchmarks/risk.py
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf data/demo $(STORE) $(STORE).wal benchmarks/_work
