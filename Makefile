# xenc developer entry points. `make demo` and `make test` are the README's quickstart.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := .xenc-demo
# The CPU build of torch, installed before anything else can ask for torch: a bare `torch`
# requirement on a machine without it pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install demo test test-slow lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: install
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/xenc index data/sample/corpus.jsonl --index-dir $(DEMO)/index
	$(BIN)/xenc search "how do I keep a sourdough starter alive" --index-dir $(DEMO)/index \
		--format table
	$(BIN)/xenc search --queries data/sample/queries.jsonl --index-dir $(DEMO)/index -k 3 \
		> $(DEMO)/results.jsonl
	@echo "First stage and reranked side by side, on 39 queries written to share few words with"
	@echo "their answers (data/sample/queries-hard.jsonl): the change column says what reranking did,"
	@echo "p whether a paired t-test tells it from noise."
	$(BIN)/xenc eval --index-dir $(DEMO)/index --queries data/sample/queries-hard.jsonl \
		--qrels data/sample/qrels-hard.tsv --output $(DEMO)/eval-hard.json

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# mypy reads its settings (files = xenc) from pyproject.toml.
lint: install
	$(BIN)/ruff check xenc tests
	$(BIN)/mypy

clean:
	rm -rf $(DEMO) build dist *.egg-info
