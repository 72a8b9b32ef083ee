# Jewelry SaaS performance lab. `make` (or `make help`) lists every target.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Knobs (override on the command line: `make load USERS=200 DURATION=10m`). USERS,
# SPAWN_RATE and DURATION have no default here: unset, each profile keeps its own
# (lab/contract.py PROFILES, locustfiles/_shapes.py).
PYTHON ?= python3
VENV ?= .venv
SCALE ?= small
USERS ?=
SPAWN_RATE ?=
DURATION ?=
WORKERS ?= 2
SCENARIO ?=
BROWSERS ?=
RATE ?=
MODEL ?=
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

# Compose lab (docker-compose.perf.yml). The first lab-up chooses the image set (registry
# images when a registry answers, else the offline set of docker-compose.offline.yml) and
# records it in .env; LAB_IMAGES=default|offline forces one (recorded too), as SCALE= does the
# scale. LAB_PROFILES=grafana adds Grafana.
LAB_PROFILES ?=
# Extra CA certificate for image builds: when LAB_EXTRA_CA_CERT is empty (environment, .env,
# .env.override) and this system bundle exists, builds use it, and lab-up says so.
LAB_SYSTEM_CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
LAB_STACK = LAB_PROFILES="$(LAB_PROFILES)" \
  LAB_SYSTEM_CA_BUNDLE=$(LAB_SYSTEM_CA_BUNDLE) \
  $(if $(filter command line environment,$(origin SCALE)),LAB_SCALE=$(SCALE)) \
  $(if $(filter command line environment,$(origin WORKERS)),LAB_WORKERS=$(WORKERS)) \
  bash scripts/lab-stack.sh

.PHONY: lab-up
lab-up: ## Docker, images, the whole lab, healthy, URLs; remembers SCALE=, LAB_IMAGES=default|offline in .env
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

SEED_ARGS ?=

.PHONY: seed
seed: ## Seed the database of DATABASE_* at SCALE=doc|small|large (SEED_ARGS='--items 250000', '--reset', '--hash')
	$(VENV_PY) -m seed --scale $(SCALE) $(SEED_ARGS)

##@ Load

# `make load` drives Locust through `lab run` (run id, meta.json, live progress, report).
# USERS/SPAWN_RATE/DURATION/SCALE are passed only when given (`make smoke USERS=5`), so each
# profile keeps its own defaults; RUN_MODE=local runs Locust here against TARGET. RUN_MODE's
# default is `lab run`'s (tests/test_layout.py checks that they agree).
RUN_MODE ?= compose
TARGET ?=
LAB_RUN_ARGS ?=
_lab_knob = $(if $(and $($(1)),$(filter-out default file,$(origin $(1)))),$(2) $($(1)))
_lab_run_flags = --$(RUN_MODE) \
  $(call _lab_knob,USERS,--users) $(call _lab_knob,SPAWN_RATE,--spawn-rate) \
  $(call _lab_knob,DURATION,--duration) $(if $(SCENARIO),--scenario $(SCENARIO)) \
  $(if $(BROWSERS),--browsers $(BROWSERS)) \
  $(if $(filter compose,$(RUN_MODE)),--workers $(WORKERS)) $(call _lab_knob,SCALE,--scale) \
  $(if $(TARGET),--target $(TARGET)) $(call _lab_knob,RATE,--rate) \
  $(call _lab_knob,MODEL,--model) $(LAB_RUN_ARGS)

# The .venv the lab's commands run in (no native test services: that is `make bootstrap`).
.PHONY: venv
venv:
	@LAB_BOOTSTRAP_SERVICES=0 VENV=$(abspath $(VENV)) bash scripts/bootstrap.sh

.PHONY: run
run: venv ## Run PROFILE=<name> (helper of the targets below; LAB_RUN_ARGS='--allow-target HOST')
	$(VENV_PY) -m lab run --profile $(PROFILE) $(_lab_run_flags)

.PHONY: smoke
smoke: ## A few users for a minute: is everything wired? (USERS, DURATION, RUN_MODE=local)
	@$(MAKE) --no-print-directory run PROFILE=smoke

.PHONY: load
load: ## Expected load, steady plateau (USERS, SPAWN_RATE, DURATION, WORKERS, SCENARIO, BROWSERS=N of the users in Chromium)
	@$(MAKE) --no-print-directory run PROFILE=load

.PHONY: stress
stress: ## Step the users up to find the breaking point (RATE=40: open model, steps of arrivals/s)
	@$(MAKE) --no-print-directory run PROFILE=stress

.PHONY: arrival
arrival: ## Open model: RATE tasks/s served by a pool of USERS (MODEL=closed: paced users, to compare)
	@$(MAKE) --no-print-directory run PROFILE=arrival

.PHONY: spike
spike: ## A sudden burst of users, then back down
	@$(MAKE) --no-print-directory run PROFILE=spike

.PHONY: soak
soak: ## A long plateau for leaks and drift (DURATION=2h), then `make soak-verdict RUN=...`
	@$(MAKE) --no-print-directory run PROFILE=soak

##@ Results

PROMETHEUS ?=
JAEGER_URL ?=
_lab_prom = $(if $(PROMETHEUS),--prometheus $(PROMETHEUS))

.PHONY: report
report: venv ## report.html + summary.md of a run (RUN=<id>, PROMETHEUS=url, JAEGER_URL=url)
	@test -n "$(RUN)" || { echo "make report: set RUN=<run id> (see make runs)" >&2; exit 2; }
	$(VENV_PY) -m lab report $(RUN) $(_lab_prom) $(if $(JAEGER_URL),--jaeger-url $(JAEGER_URL))

.PHONY: compare
compare: venv ## Compare runs A=<id>[,<id>...] B=<id>[,<id>...] across runs (FAIL_ON=10% gates)
	@test -n "$(A)" -a -n "$(B)" || { echo "make compare: set A=<run id> B=<run id>" >&2; exit 2; }
	$(VENV_PY) -m lab compare '$(A)' '$(B)' $(if $(FAIL_ON),--fail-on-regression $(FAIL_ON))

.PHONY: calibrate
calibrate: venv ## A/A noise floor from RUNS='<id1>,<id2>,<id3>' (or a quoted glob): runs/noise-floor.json
	@test -n "$(RUNS)" || { echo "make calibrate: set RUNS=<id1>,<id2>,<id3> (3+ runs of one profile)" >&2; exit 2; }
	$(VENV_PY) -m lab calibrate '$(RUNS)'

BASE ?= main
CANDIDATE ?= HEAD
REPEATS ?= 3
AB_RUN_ARGS ?= --profile load --users 20 --duration 1m

# AB_MODE=compose: an app image per revision in the running Compose lab (`make lab-up`).
AB_MODE ?= local

.PHONY: ab
ab: venv ## Is CANDIDATE (HEAD) slower than BASE (main)? REPEATS interleaved runs each (AB_MODE=local|compose, FAIL_ON=10%)
	LAB_SYSTEM_CA_BUNDLE=$(LAB_SYSTEM_CA_BUNDLE) $(VENV_PY) -m lab ab $(BASE) $(CANDIDATE) \
	  --$(AB_MODE) --repeats $(REPEATS) $(if $(FAIL_ON),--fail-on-regression $(FAIL_ON)) \
	  -- $(AB_RUN_ARGS) $(if $(filter compose,$(AB_MODE)),$(call _lab_knob,SCALE,--scale),--scale $(SCALE))

.PHONY: ab-compose-proof
ab-compose-proof: venv ## Proof of lab ab --compose in its own project: A/A, then a planted N+1 found (~35 min; AB_PROOF_RUN_ARGS='--users 6 ...')
	LAB_SYSTEM_CA_BUNDLE=$(LAB_SYSTEM_CA_BUNDLE) AB_PROOF_RUN_ARGS='$(AB_PROOF_RUN_ARGS)' $(VENV_PY) tests/ab_compose/proof.py

.PHONY: runs
runs: venv ## List runs: profile, duration, requests, p95, verdict
	$(VENV_PY) -m lab runs

.PHONY: soak-proof
soak-proof: bootstrap ## Proof of the soak verdict: 10-minute soaks at 20 users, with and without LAB_FAULTS=leak (~14 min)
	LAB_SOAK_PROOF=1 $(VENV_PY) -m tests.harness -- $(VENV)/bin/pytest tests/lab/test_soak_runs.py -s -q -p no:cacheprovider

.PHONY: stall-proof
stall-proof: bootstrap ## Open vs closed model on LAB_FAULTS=stall at a matched rate; lab vs wrk p50/p95 (~5 min; BENCH_ARGS='--rate 20')
	$(VENV_PY) -m tests.harness -- $(VENV_PY) bench/stall_proof.py $(BENCH_ARGS)

.PHONY: soak-verdict
soak-verdict: venv ## Memory slopes, latency/error/PgBouncer drift of RUN=<id> (PROMETHEUS=url)
	@test -n "$(RUN)" || { echo "make soak-verdict: set RUN=<run id> (see make runs)" >&2; exit 2; }
	$(VENV_PY) -m lab soak-verdict $(RUN) $(_lab_prom)

.PHONY: bench-report
bench-report: ## lab report on generated runs of 1M and 10M requests + spans: seconds and peak RSS (BENCH_ARGS='--sizes 1000000')
	$(VENV_PY) bench/bench_report.py $(BENCH_ARGS)

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

.PHONY: dev-app
dev-app: bootstrap ## The app by hand, no Docker: own services, migrate, seed SCALE=, gunicorn on 127.0.0.1:PORT (8000)
	SCALE=$(SCALE) scripts/dev-app.sh

.PHONY: bench
bench: bench-seed bench-report bench-archive bench-tracing bench-record bench-pos bench-api ## Every benchmark in turn (prints figures; targets are in the README)

.PHONY: bench-api
bench-api: bootstrap ## API inventory list p50/p95 at N clients via gunicorn + PgBouncer (BENCH_ARGS='--clients 20 --seconds 15')
	$(VENV_PY) -m tests.harness -- $(VENV_PY) bench/bench_api_inventory.py $(BENCH_ARGS)

.PHONY: bench-app-tracing
bench-app-tracing: bootstrap ## App's own tracing cost: /api/inventory/ req/s and p50, ratio 0 vs 0.1 vs 1 interleaved (BENCH_ARGS='--rounds 5')
	$(VENV_PY) -m tests.harness -- $(VENV_PY) bench/bench_app_tracing_cost.py $(BENCH_ARGS)

.PHONY: bench-record
bench-record: bootstrap ## Per-request record: RSS after each million requests (flat = bounded) (BENCH_ARGS='--requests 3000000')
	$(VENV_PY) bench/bench_record_memory.py $(BENCH_ARGS)

.PHONY: bench-pos
bench-pos: bootstrap ## POS checkout + search p50/p95/p99 at 20 clients via gunicorn + PgBouncer (BENCH_ARGS='--clients 20 --seconds 20')
	$(VENV_PY) -m tests.harness -- $(VENV_PY) bench/bench_pos_checkout.py $(BENCH_ARGS)

.PHONY: bench-seed
bench-seed: bootstrap ## Seed `large` into a throw-away PostgreSQL: wall time, rows/s per table, COPY vs bulk_create (BENCH_ARGS='--orm-items 100000')
	$(VENV_PY) -m tests.harness -- $(VENV_PY) bench/bench_seed.py $(BENCH_ARGS)

.PHONY: bench-tracing
bench-tracing: ## Locust req/s per core, tracing on vs off, HttpUser and FastHttpUser (BENCH_ARGS='--seconds 15')
	$(VENV_PY) bench/bench_tracing_overhead.py $(BENCH_ARGS)

.PHONY: bench-arrival
bench-arrival: bootstrap ## Open-model generator: highest arrival rate sustained (schedule lag p99 < 100 ms) and per core, tracing off and 0.1 (BENCH_ARGS='--rates 250,500,1000')
	$(VENV_PY) bench/bench_arrival.py $(BENCH_ARGS)

.PHONY: images-offline
images-offline: ## Build every lab image from Debian packages (no registry; reuses existing images and layers)
	@bash scripts/docker-ensure.sh
	@started=$$SECONDS; LAB_IMAGES=offline $(LAB_STACK) build; \
	echo "[lab] images-offline done in $$((SECONDS - started)) s" >&2

.PHONY: e2e
e2e: bootstrap ## End to end on Docker: offline images, lab-up, 60 s smoke with 2 workers, checks, restart keeps data
	@LAB_SYSTEM_CA_BUNDLE=$(LAB_SYSTEM_CA_BUNDLE) VENV_PY=$(abspath $(VENV_PY)) bash tests/e2e/run.sh

.PHONY: scale-out-proof
scale-out-proof: bootstrap ## Workers of a 2nd Compose project (no runs mount) join the lab's master via its published port; one run folder holds all (not in CI)
	@VENV_PY=$(abspath $(VENV_PY)) bash tests/scale_out/run.sh

.PHONY: faults
faults: bootstrap ## Fault battery on Docker: PostgreSQL, PgBouncer, Redis, trace archive, worker, Ctrl-C; one table (FAULTS_USERS=10)
	@LAB_SYSTEM_CA_BUNDLE=$(LAB_SYSTEM_CA_BUNDLE) VENV_PY=$(abspath $(VENV_PY)) bash tests/faults/run.sh

MODULES ?=
MUTATION_ARGS ?=

.PHONY: mutation
mutation: bootstrap ## Mutation testing of the verdict modules, 1 process, ~1 h on 2 cores (MODULES=target_safety,health)
	@$(VENV_PY) -c 'import mutmut' 2>/dev/null || $(VENV_PY) -m pip install --disable-pip-version-check -q -r requirements/mutation.txt
	$(VENV_PY) -m tests.harness -- $(VENV_PY) scripts/mutation.py --modules "$(MODULES)" $(MUTATION_ARGS)
