# mmpaper: `make book` builds the whole book on the embedded default; `make test` runs the tests.
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= cpu
STAMP := $(VENV)/.installed

.PHONY: help venv test test-py313 test-all book book-check world run tables bench bench-full bench-book clean \
	data-grocery real-photos

help:
	@echo "make book      build the book on the embedded world (PRESET=$(PRESET)); HTML in _build/html"
	@echo "make test      run the fast test suite (creates .venv on first use)"
	@echo "make test-all  also run the tests marked slow"
	@echo "make test-py313  check that every dependency resolves for CPython 3.13 (needs the package registry)"
	@echo "make world     generate (or reuse) the world for PRESET and print its Table 1"
	@echo "make data-grocery  fetch + verify the Grocery Store photos into data/grocery (MIRROR=dir for a local copy)"
	@echo "make real-photos   the visual-search claim on those photos, seeds 0,1,2, recorded in book/recorded"
	@echo "make run       train and evaluate every Table 2 variant for PRESET"
	@echo "make tables    print Tables 2-4 for PRESET"
	@echo "make bench     run the benchmarks (about 30 min on 2 cores) and write BENCHMARKS.md"
	@echo "make bench-full  the evaluation benchmark on all 38,268 paper queries (hours on 2 cores)"
	@echo "make bench-book  time a cold and a warm book build for PRESET"
	@echo "make book-check  screenshot every page of the built book in headless Chromium; fail on overflow"

venv: $(STAMP)

# torch and torchvision are installed together from the registry: a lone `torch==X` pin can pick a CPU-only
# local wheel that the registry's torchvision (needed by open_clip) cannot load against.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch torchvision
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -c "import torch, torchvision, open_clip, faiss, pytorch_lightning; print('mmpaper environment ready: torch', torch.__version__)"
	touch $@

# the layering contract first (pyproject.toml [tool.importlinter]: layers point down, DESIGN.md §3), then the tests
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q

# Python 3.13 (Colab's runtime): every dependency resolves to wheels for CPython 3.13 (a pip dry run against the
# registry; skipped with its reason when the registry cannot be reached). There is no 3.13 interpreter here.
test-py313: $(STAMP)
	$(PY) -m pytest -q -m network tests/test_packaging.py -k "3.13-False"

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

# The Grocery Store dataset (real photos for the visual-search chapter): from GitHub, or MIRROR=<folder or URL>
data-grocery: $(STAMP)
	$(PY) -m mmpaper data grocery $(if $(MIRROR),--mirror $(MIRROR),)

real-photos: $(STAMP)
	$(PY) -m mmpaper real-photos --seeds 0,1,2 --record

world: $(STAMP)
	$(PY) -m mmpaper world --preset $(PRESET)

run: $(STAMP)
	$(PY) -m mmpaper run --preset $(PRESET) --variant all

tables: $(STAMP)
	$(PY) -m mmpaper tables --preset $(PRESET)

clean:
	rm -rf _build cache runs

book: $(STAMP)
	$(PY) -m mmpaper book --preset $(PRESET)

# The built book (make book first) in headless Chromium at 1280 and 1920 px: a screenshot of every page into
# _build/$(PRESET)/screenshots, and a failure for any table or figure wider than the content column, figure text
# under 10 px, unrendered formulas, or the HTML checks of the test suite. Chromium is Debian's package:
#   apt-get update && apt-get install -y chromium
book-check: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ echo "book-check needs headless Chromium: apt-get update && apt-get install -y chromium"; exit 2; }
	$(PY) -m mmpaper book-check --preset $(PRESET)

# the paper's 3,384,067 products in full; the search on BENCH_QUERIES of its 38,268 queries (linear in queries)
BENCH_QUERIES ?= 4096
bench: $(STAMP)
	$(PY) benchmarks/bench_eval.py --queries $(BENCH_QUERIES)
	$(PY) benchmarks/bench_scaling.py
	$(PY) benchmarks/bench_ann.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_embed.py
	$(PY) benchmarks/summarize.py

bench-full: $(STAMP)
	$(PY) benchmarks/bench_eval.py --queries 38268
	$(PY) benchmarks/summarize.py

bench-book: $(STAMP)
	$(PY) benchmarks/bench_book.py --preset $(PRESET)
	$(PY) benchmarks/summarize.py
