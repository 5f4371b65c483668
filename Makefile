# Two entry points for a new machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest
# Hide TensorFlow's C++ start-up notices (CUDA probing on CPU machines); override with =0.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-large install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-run the install when the package metadata changes.
$(VENV)/.installed: $(BIN)/python setup.py setup.cfg
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/kseq2seq demo

# Test processes (pytest-xdist), each test file in one: most tests keep one core busy (Python tracing and
# small kernels), so two processes use a 2-core machine's second core. `make test JOBS=1` runs them in one.
JOBS ?= 2
PARALLEL := $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadfile)

# pytest exits 5 when it collects no test: a broken suite, reported as such.
test: $(VENV)/.installed-test
	@$(PYTEST) -m "not large" $(PARALLEL) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests (exit 5)" >&2; fi; exit $$rc

test-large: $(VENV)/.installed-test
	@$(PYTEST) -m "large" $(PARALLEL) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no large tests (exit 5)" >&2; fi; exit $$rc

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
