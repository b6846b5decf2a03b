# One-command set-up: `make demo` and `make test` create .venv when missing and install sparsenode into it.
# Machines without CUDA get the CPU build of torch (pinned); machines with CUDA get pip's default build.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_CPU ?= torch==2.13.0
PYTEST_ARGS ?=
TUTORIALS ?= $(sort $(wildcard tutorials/*.ipynb))
# notebooks that need ../shared/data carry "needs_shared_data": true in their metadata; CI runs the others
TUTORIALS_NODATA ?= $(sort $(shell grep -L '"needs_shared_data": true' $(TUTORIALS) 2>/dev/null))
NBMAKE_TIMEOUT ?= 1200

.PHONY: install install-doc demo test test-all test-gpu lint docs tutorials tutorials-nodata clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install -q "$(TORCH_CPU)"; fi
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m sparsenode.demo --output demo_output

test: install
	$(PY) -m pytest -m "not slow" --doctest-modules tests src/sparsenode $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest --doctest-modules tests src/sparsenode $(PYTEST_ARGS)

test-gpu: install
	$(PY) -m pytest -m gpu $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo_output build dist docs/_build docs/generated docs/tutorials

# Documentation: the `doc` extra (sphinx, myst-nb, nbmake, ...) on top of the normal install.
$(VENV)/.doc-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e ".[doc]"
	touch $@

install-doc: $(VENV)/.doc-installed

# HTML docs in docs/_build/html; warnings are errors. Notebooks are rendered with their stored outputs.
docs: install-doc
	$(PY) docs/check_api.py
	rm -rf docs/generated
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# Execute every tutorial notebook (outputs are not written back; add --overwrite to PYTEST_ARGS to store them).
tutorials: install-doc
	OMP_NUM_THREADS=1 $(PY) -m pytest -p no:cacheprovider --nbmake --nbmake-timeout=$(NBMAKE_TIMEOUT) $(TUTORIALS) $(PYTEST_ARGS)

# Only the notebooks that need no data outside the package (what CI runs).
tutorials-nodata: install-doc
	OMP_NUM_THREADS=1 $(PY) -m pytest -p no:cacheprovider --nbmake --nbmake-timeout=$(NBMAKE_TIMEOUT) $(TUTORIALS_NODATA) $(PYTEST_ARGS)
