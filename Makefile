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
	$(VENV)/bin/ruff check src tests scripts bench setup.py
	$(VENV)/bin/ruff format --check src tests scripts bench setup.py
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

# Benchmark suite (bench/README.md): ovserve beside KServe, MLServer, BentoML, LitServe and Ray Serve,
# the front-end floors (interleaved) and the in-process floor, all on 127.0.0.1; writes
# bench/results/<date>-<cpu>.md; then dynamic batching against benchmark_app at the max batch
# (<date>-<cpu>-batching.md), a second worker's memory (<date>-<cpu>-worker-rss.md) and text
# generation (<date>-genai.md). BENCH_QUICK=1 for a smoke run (the first quick, batching and memory skipped);
# BENCH_SECONDS, BENCH_SERVERS, BENCH_MODELS, BENCH_PIN, ... are described in bench/run.py.
.PHONY: bench
bench: $(GEN)
	PYTHON=$(PYTHON) bench/setup.sh
	$(PY) bench/run.py
	@if [ "$(BENCH_QUICK)" != "1" ]; then \
		$(PY) bench/batching.py --concurrency 1,64 --delay-us 2000 --rounds 2 --seconds 10 --warmup 4 --tail 4 \
		&& $(PY) bench/worker_rss.py; fi
	$(PY) bench/genai.py

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

# perf_analyzer (Triton's load generator) for tests/integration/test_triton_extensions.py: the binary of
# the tritonclient 2.49.0 wheel (later wheels ship none) under .tools/perf, beside the CUDA runtime library
# it links (nvidia-cuda-runtime-cu12 wheel); it also needs Debian's libb64-0d.
PERF_ANALYZER := .tools/perf/bin/perf_analyzer
.PHONY: perf-tools
perf-tools: $(STAMP)
	@[ -x $(PERF_ANALYZER) ] || $(PY) -m pip install -q --no-deps --target .tools/perf \
		'tritonclient==2.49.0' 'nvidia-cuda-runtime-cu12==12.9.79'
	@{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep -q 'libb64\.so' || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q libb64-0d; } \
		|| { echo "perf-tools: install Debian libb64-0d (perf_analyzer needs it)"; exit 1; }
integration: perf-tools
# Stateful models (bench/stateful.py, ~2 min): sequences/s and per-step latency over TF Serving gRPC
# and REST against in-process OpenVINO; writes bench/results/<date>-<cpu>-stateful.md.
.PHONY: bench-stateful
bench-stateful: $(GEN)
	$(PY) bench/stateful.py
# Pipelines (bench/pipeline_overhead.py, ~2 min): a DAG (ResNet-50 -> head chain, demultiplexed images,
# two instant nodes) against calling the same servables one after another in-process;
# writes bench/results/<date>-<cpu>-pipelines.md.
.PHONY: bench-pipelines
bench-pipelines: $(GEN)
	$(PY) bench/pipeline_overhead.py
# Container image (Dockerfile, docs/deployment.md). `make image` builds it on IMAGE_BASE from the
# wheels of the test environment's pins; `make image-test` builds it on a Debian base made here with
# debootstrap (no registry needed; cached under .cache/image) and smoke-tests it with the real
# Docker engine (tests/image). DOCKER must be a client whose engine supports BuildKit.
DOCKER      ?= /usr/bin/docker
IMAGE       ?= ovserve:dev
IMAGE_BASE  ?= python:3.11-slim-bookworm
IMAGE_TEST_BASE ?= ovserve-base:bookworm
.PHONY: image image-context image-test
image-context: $(GEN)
	VENV=$(VENV) deploy/image/prepare_context.sh
image: image-context
	DOCKER_BUILDKIT=1 $(DOCKER) build --network none -q -t $(IMAGE) --build-arg BASE=$(IMAGE_BASE) \
		--build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
		--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) .
image-test: $(GEN)
	@if [ "$(IMAGE_TEST_BASE)" = ovserve-base:bookworm ]; then DOCKER=$(DOCKER) deploy/image/debian_base.sh; fi
	$(MAKE) --no-print-directory image IMAGE=ovserve:image-test IMAGE_BASE=$(IMAGE_TEST_BASE)
	OVSERVE_IMAGE=ovserve:image-test DOCKER=$(DOCKER) $(VENV)/bin/pytest tests/image -q
# Helm chart and KServe objects rendered and validated offline, ConfigMap live reload, the image's
# health check (tests/deploy; no cluster, no Docker)
.PHONY: deploy-test
deploy-test: $(GEN)
	$(VENV)/bin/pytest tests/deploy -q
test: deploy-test

# the Python files under deploy/ (image helpers) are linted like the rest
.PHONY: lint-deploy
lint: lint-deploy
lint-deploy: $(GEN)
	$(VENV)/bin/ruff check deploy
	$(VENV)/bin/ruff format --check deploy
# Text generation (bench/genai.py, ~10 min): ovserve's /v3/completions streamed at concurrency 1, 8, 32
# against ContinuousBatchingPipeline in-process (in turn, round by round), a hand-written FastAPI +
# LLMPipeline server and llama-cpp-python's server (the same tiny architecture as GGUF); a tiny, a
# small and a medium LLM built locally; writes
# bench/results/<date>-genai.md. The peers' venvs are made under bench/.envs on first use; PyPI has only
# llama-cpp-python's sdist, so the first run builds its wheel (~25 min on 2 cores; BENCH_GENAI_LLAMA=0 skips it).
.PHONY: bench-genai
bench-genai: $(GEN)
	$(PY) bench/genai.py
# Soak (reliability-core; docs/reliability.md): 30 minutes of mixed REST/gRPC traffic with load/unload
# cycles and config.json edits on 127.0.0.1; RSS, fds and threads must end flat, no good request may
# fail. Writes bench/results/<date>-soak.{md,csv,png}. Not in CI (tests/integration/test_soak.py runs 2 min).
SOAK_MINUTES ?= 30
.PHONY: soak
soak: $(GEN)
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES)
