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

##@ Data

##@ Load

##@ Results

##@ Dev
