# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8888
STAMP  := $(VENV)/.installed
# Colab still ships ipywidgets 7: the widget tests also run against 7.7 in a venv of their own.
VENV7  ?= .venv-ipywidgets7
STAMP7 := $(VENV7)/.installed
WIDGET_TESTS := tests/widgets/studio tests/widgets/test_controls.py tests/widgets/test_jobs.py tests/widgets/test_key_input.py tests/widgets/test_grid.py tests/widgets/test_viewer.py \
	tests/widgets/test_history_browser.py tests/widgets/test_history_actions.py tests/widgets/test_tasks.py tests/widgets/test_grid_pages.py tests/widgets/test_explore.py \
	tests/widgets/test_gallery.py tests/widgets/test_history_sharing.py tests/widgets/test_sharing_exports.py tests/widgets/test_history_card.py

.PHONY: demo test lint typecheck pytest pytest-in-process pytest-out-of-process pytest-ipywidgets7 bench notebooks clean venv fonts

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

## demo: JupyterLab on the studio notebook (real API if COMETAPI_KEY is set, else the mock),
## in a scratch copy of notebooks/ outside the clone (binder/start --demo; FLUX_DEMO_DIR=...)
demo: $(STAMP)
	binder/start --demo $(abspath $(VENV))/bin/jupyter lab 02_studio.ipynb \
		--ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --ServerApp.port_retries=0 \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root)

## test: lint, type-check and every test (unit, protocol, widgets, notebooks, ipywidgets 7)
# The two venvs build side by side, and the three test runs (in-process, out-of-process,
# ipywidgets 7: much of each is waiting, not CPU) go side by side: on 2 cores that keeps
# `make test` under 10 minutes. -O keeps each run's output in one piece.
test:
	$(MAKE) -j2 -O $(STAMP) $(STAMP7)
	$(MAKE) lint typecheck
	$(MAKE) -j3 -O pytest-in-process pytest-out-of-process pytest-ipywidgets7

$(STAMP7): pyproject.toml
	$(PYTHON) -m venv $(VENV7)
	$(VENV7)/bin/python -m pip install -q --upgrade pip
	$(VENV7)/bin/python -m pip install -q -e '.[mock]' 'ipywidgets>=7.7,<8' pytest pytest-asyncio
	touch $(STAMP7)

pytest-ipywidgets7: $(STAMP7)
	$(VENV7)/bin/python -m pytest -q -o addopts="--strict-markers --import-mode=importlib" $(WIDGET_TESTS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The main run as two processes side by side: the tests that mostly wait on other processes
# (browsers, Jupyter servers, notebook kernels, a fresh Binder venv) beside the in-process ones;
# each process has its own session mock (conftest.py).
OUT_OF_PROCESS := tests/browser tests/project notebooks

pytest: pytest-in-process pytest-out-of-process

pytest-in-process: $(STAMP) fonts
	$(PY) -m pytest $(addprefix --ignore=,$(OUT_OF_PROCESS))

pytest-out-of-process: $(STAMP) fonts
	$(PY) -m pytest $(OUT_OF_PROCESS)

# The grid's exported sheets draw labels in any script with fonts found on the machine
# (flux_widgets/widgets/_grid_export.py); the tests draw Latin, Greek, Cyrillic and CJK, so
# Debian's DejaVu and WenQuanYi Micro Hei are installed where apt-get can (CI runs as root).
FONT_FILES := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
fonts:
	@if ! ls $(FONT_FILES) >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core fonts-wqy-microhei; \
	fi

## bench: the performance tables of benchmarks/README.md (BENCH_ARGS=--quick for a smoke run)
bench: $(STAMP)
	$(PY) -m benchmarks.run_all $(BENCH_ARGS)

## notebooks: re-run the examples on the mock and keep only the outputs nbval checks
notebooks: $(STAMP)
	$(PY) tests/refresh_notebooks.py

clean:
	rm -rf $(VENV) $(VENV7) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
