# sslsec — `make book` runs every chapter and builds the site; `make test` runs all tests.
# Both create .venv on first use and install everything they need into it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv test unit lint book bench clean

help:
	@echo "make book   run every chapter (laptop profile) and build the site"
	@echo "make test   lint + all tests"
	@echo "make bench  pre-training throughput benchmark"
	@echo "make venv   create $(VENV) and install sslsec with its dependencies"

# torch==2.14.1 / torchvision==0.29.1 (pinned in pyproject.toml) come from this machine's disk.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[book,dev]"
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check sslsec tests benchmarks

test: lint
	$(VENV)/bin/pytest -q

unit: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

book: $(STAMP)
	@if ls chapters/*.ipynb >/dev/null 2>&1; then \
		$(PY) -m sslsec run all --profile laptop; \
	else \
		echo "no chapters yet: nothing to run"; \
	fi

bench: $(STAMP)
	$(PY) benchmarks/pretrain_throughput.py

clean:
	rm -rf _build .pytest_cache .ruff_cache
