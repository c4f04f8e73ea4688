# Each target makes its own virtual environment on a fresh machine and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
TORCH  ?= torch==2.13.0
export THP_MEM_ALLOC_ENABLE ?= 1

.PHONY: demo test bench lint clean browser

$(VENV)/.base-installed:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned, so no other requirement pulls a multi-GB CUDA build
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e .
	touch $@

$(VENV)/.all-installed: $(VENV)/.base-installed pyproject.toml
	$(PIP) install -q "$(TORCH)" -e ".[all,dev]"
	touch $@

# Headless Chromium for the page's end-to-end test (Debian's package; Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "note: could not install chromium; browser tests will be skipped"; \
	  fi; }

demo: $(VENV)/.base-installed
	$(VENV)/bin/animegan stylize src/animegan/samples -o demo-output

# two workers (2 cores), whole files to each: the installed tier builds its wheel and venvs once
test: $(VENV)/.all-installed browser
	$(PY) -m pytest -q -n 2 --dist loadfile

# the last two are guards (exit 1 when over): the server's overhead per request, the stylize command's start-up
bench: $(VENV)/.all-installed
	$(PY) benchmarks/bench_generator.py
	$(PY) -m animegan bench --out benchmarks/results -m benchmarks/models/animeganv2-shinkai.safetensors \
	  --pruned benchmarks/models/animeganv2-shinkai-pruned40.safetensors $(BENCH_DATA)
	$(PY) benchmarks/bench_lite.py --quick
	$(PY) benchmarks/bench_large.py --sizes 4k
	$(PY) benchmarks/bench_ray.py --quick
	$(PY) benchmarks/bench_server.py --quick --no-record
	$(PY) benchmarks/bench_startup.py --quick --no-record

# the recorded figures calibrate and measure on the development data when it is beside the checkout
BENCH_DATA := $(if $(wildcard ../shared/data/photos),--calib ../shared/data/photos --photo ../shared/data/eval/animegan_test)

lint: $(VENV)/.all-installed
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo-output
