# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INDEX ?= indexes/default
PYTEST_ARGS ?=

.PHONY: install run test test-all lint eval bench browser-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build; an unpinned torch pulls gigabytes of CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# the embedding model exported to ONNX once (user cache, keyed by the model's hash): queries need no torch
	HF_HUB_OFFLINE=1 $(BIN)/python -m assistant.onnx_embedder
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

run: install
	$(BIN)/assistant ingest corpus --index $(INDEX)
	$(BIN)/assistant serve --index $(INDEX)

test: install browser-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all: install browser-deps
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
