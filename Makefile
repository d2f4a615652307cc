# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8888
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench notebooks clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

## demo: JupyterLab on the studio notebook (real API if COMETAPI_KEY is set, else the mock)
demo: $(STAMP)
	binder/start $(VENV)/bin/jupyter lab notebooks/02_studio.ipynb \
		--ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --ServerApp.port_retries=0

## test: lint, type-check and every test (unit, protocol, widgets, notebooks)
test: lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest

## notebooks: re-run the examples on the mock and keep only the outputs nbval checks
notebooks: $(STAMP)
	$(PY) tests/refresh_notebooks.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
