# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INDEX ?= indexes/default
PYTEST_ARGS ?=

.PHONY: install run test test-all lint eval eval-baselines bench browser-deps ocr-deps clean

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

run: install
	$(BIN)/assistant ingest corpus --index $(INDEX)
	$(BIN)/assistant serve --index $(INDEX)

test: install browser-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all: install browser-deps
	$(BIN)/python -m pytest -q -m "" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check assistant tests benchmarks

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
