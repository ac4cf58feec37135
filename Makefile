# cxrkit: `make demo` runs the main job, `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
LEAN_STAMP := $(VENV)/.installed-lean

.PHONY: install install-lean demo test test-fast lint clean system-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,train,ray,retrieval]'
	touch $(STAMP)

# the lean profile (no PyTorch, pandas, scikit-learn, matplotlib) is all the demo needs; `make test` adds the rest
install-lean: $(LEAN_STAMP)

$(LEAN_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $(LEAN_STAMP)

demo: install-lean
	$(VENV)/bin/cxrkit demo --out demo-output

# lint: ruff (rules in pyproject.toml), mypy (src/cxrkit), and the size limits (modules <= 400 lines,
# functions <= 80 lines outside tests); make test runs it before the tests.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) scripts/check_sizes.py src scripts benchmarks

test: install lint
	bash scripts/system_deps.sh
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow and not orthanc and not browser"

clean:
	rm -rf $(VENV) demo-output .pytest_cache
