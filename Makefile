# The project's commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
GEN    := src/ovserve/_generated/.stamp
DEMO_REST_PORT ?= 8000
DEMO_GRPC_PORT ?= 9000

.PHONY: demo test lint unit integration protos clean help

help:
	@echo "make demo   - build a demo model repository and serve it on 127.0.0.1"
	@echo "make test   - lint, type-check, layer contracts, unit and integration tests"

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(GEN): $(STAMP) $(shell find protos -name '*.proto') scripts/gen_protos.py
	$(PY) scripts/gen_protos.py
	touch $@

protos: $(GEN)

demo: $(GEN)
	$(PY) scripts/make_demo.py demo
	@echo
	@echo "Serving demo/config.json: REST on 127.0.0.1:$(DEMO_REST_PORT), gRPC on 127.0.0.1:$(DEMO_GRPC_PORT). Ctrl-C stops."
	@echo "From another shell (see README.md for the client calls):"
	@echo "  curl -s -X POST localhost:$(DEMO_REST_PORT)/v2/models/tiny/infer -d '{\"inputs\":[{\"name\":\"x\",\"shape\":[1,10],\"datatype\":\"FP32\",\"data\":[0,1,2,3,4,5,6,7,8,9]}]}'"
	@echo "  $(PY) scripts/demo_client.py --rest $(DEMO_REST_PORT) --grpc $(DEMO_GRPC_PORT)"
	@echo
	$(VENV)/bin/ovserve --config_path demo/config.json --port $(DEMO_GRPC_PORT) --rest_port $(DEMO_REST_PORT) \
		--grpc_bind_address 127.0.0.1 --rest_bind_address 127.0.0.1

lint: $(GEN)
	$(VENV)/bin/ruff check src tests scripts setup.py
	$(VENV)/bin/ruff format --check src tests scripts setup.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) scripts/gen_protos.py --check src/ovserve/_generated

# Unit and integration tests run in separate processes: the clients used by the
# integration tests register protobuf names that ovserve's own generated code also defines.
unit: $(GEN)
	$(VENV)/bin/pytest tests/unit -q

integration: $(GEN)
	$(VENV)/bin/pytest tests/integration -q

test: lint unit integration

clean:
	rm -rf $(VENV) build dist src/*.egg-info demo src/ovserve/_generated/*/ src/ovserve/_generated/*.py $(GEN)

# Benchmark suite (bench/README.md): ovserve beside KServe and MLServer, and the in-process floor,
# all on 127.0.0.1; writes bench/results/<date>-<cpu>.md. BENCH_QUICK=1 for a ~2 minute smoke run;
# BENCH_SECONDS, BENCH_SERVERS, BENCH_MODELS, BENCH_PIN, ... are described in bench/run.py.
.PHONY: bench
bench: $(GEN)
	PYTHON=$(PYTHON) bench/setup.sh
	$(PY) bench/run.py

# Model lifecycle under load (bench/README.md, ~8 min): p99 of a small model while a large model loads
# and unloads (bench/lifecycle_load.py), server RSS over 100 load/unload cycles (bench/lifecycle_rss.py);
# writes bench/results/<date>-<cpu>-lifecycle.md. Needs h2load (Debian nghttp2-client).
.PHONY: bench-lifecycle
bench-lifecycle: $(GEN)
	@command -v h2load >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q nghttp2-client; } \
		|| { echo "bench-lifecycle: install h2load (Debian nghttp2-client)"; exit 1; }
	$(PY) bench/lifecycle_load.py
	$(PY) bench/lifecycle_rss.py

# Storage emulators for tests/integration/test_remote_repositories.py: azurite (the Azure Blob
# emulator, npm) under .tools/; moto and fake-gcs-server come with the dev extras.
AZURITE := .tools/node_modules/.bin/azurite-blob
.PHONY: tools
tools:
	@if [ -x $(AZURITE) ]; then :; \
	elif command -v npm >/dev/null; then npm install --prefix .tools --no-audit --no-fund --loglevel=error 'azurite@^3.35'; \
	else echo "npm not found: azurite is not installed, the Azure tests will be skipped"; fi
integration: tools

# Soak (reliability-core; docs/reliability.md): 30 minutes of mixed REST/gRPC traffic with load/unload
# cycles and config.json edits on 127.0.0.1; RSS, fds and threads must end flat, no good request may
# fail. Writes bench/results/<date>-soak.{md,csv,png}. Not in CI (tests/integration/test_soak.py runs 2 min).
SOAK_MINUTES ?= 30
.PHONY: soak
soak: $(GEN)
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES)
