# One-command set-up: `make demo` and `make test` create .venv when missing and install sparsenode into it.
# Machines without CUDA get the CPU build of torch (pinned); machines with CUDA get pip's default build.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_CPU ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install demo test test-all test-gpu lint docs tutorials clean

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
	rm -rf $(VENV) demo_output build dist docs/_build
