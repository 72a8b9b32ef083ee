# Jewelry SaaS performance lab. `make` (or `make help`) lists every target.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Knobs (override on the command line: `make load USERS=200 DURATION=10m`).
PYTHON ?= python3
VENV ?= .venv
SCALE ?= small
USERS ?= 50
SPAWN_RATE ?= 10
DURATION ?= 5m
WORKERS ?= 2
SCENARIO ?=
RUN ?=
A ?=
B ?=

VENV_PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/app:$(CURDIR)

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m [KNOB=value]\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Stack

# Compose lab (docker-compose.perf.yml). LAB_IMAGES=offline uses the images built by
# `make images-offline` (docker-compose.offline.yml); LAB_PROFILES=grafana adds Grafana.
LAB_IMAGES ?= default
LAB_PROFILES ?=
# Extra CA certificate for image builds: when LAB_EXTRA_CA_CERT is empty (environment, .env,
# .env.override) and this system bundle exists, builds use it, and lab-up says so.
LAB_SYSTEM_CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
LAB_STACK = LAB_IMAGES=$(LAB_IMAGES) LAB_PROFILES="$(LAB_PROFILES)" \
  LAB_SYSTEM_CA_BUNDLE=$(LAB_SYSTEM_CA_BUNDLE) \
  $(if $(filter command line environment,$(origin SCALE)),LAB_SCALE=$(SCALE)) \
  $(if $(filter command line environment,$(origin WORKERS)),LAB_WORKERS=$(WORKERS)) \
  bash scripts/lab-stack.sh

.PHONY: lab-up
lab-up: ## Build and start the whole lab, wait until healthy, print URLs (LAB_IMAGES=offline, SCALE=, WORKERS=)
	@$(LAB_STACK) up

.PHONY: lab-down
lab-down: ## Stop the lab; PostgreSQL data and the Prometheus TSDB are kept
	@$(LAB_STACK) down

.PHONY: lab-clean
lab-clean: ## Stop the lab and delete its volumes (asks first; FORCE=1 skips the question)
	@FORCE=$(FORCE) $(LAB_STACK) clean

.PHONY: lab-ps
lab-ps: ## Show the state and health of every lab service
	@$(LAB_STACK) ps

.PHONY: lab-logs
lab-logs: ## Recent logs of the lab (SERVICE=app, FOLLOW=1 to follow)
	@FOLLOW=$(FOLLOW) $(LAB_STACK) logs $(SERVICE)

##@ Data

##@ Load

##@ Results

##@ Dev

PYTEST_ARGS ?=

.PHONY: bootstrap
bootstrap: ## Install missing Debian packages and the .venv (idempotent; needs root the first time)
	VENV=$(abspath $(VENV)) bash scripts/bootstrap.sh

.PHONY: test
test: bootstrap ## THE test command: pytest on its own PostgreSQL, PgBouncer, Redis (PYTEST_ARGS='-k inventory')
	@rc=0; $(VENV_PY) -m tests.harness -- $(VENV)/bin/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ "$$rc" -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): check PYTEST_ARGS" >&2; fi; \
	exit "$$rc"

.PHONY: lint
lint: ## ruff check and ruff format --check over the repository
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: bench-archive
bench-archive: ## Trace archive: sustained spans/s and peak RSS (BENCH_ARGS='--rate 10000 --seconds 20')
	$(VENV_PY) bench/bench_trace_archive.py $(BENCH_ARGS)
