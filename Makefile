# Quickstart targets. Only python3 (>= 3.10), pip and make are needed on the machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= demo_output
# Pinned versions (see the file's header); `make test-latest` installs the newest allowed by setup.cfg instead.
CONSTRAINTS ?= constraints.txt
LATEST_VENV ?= .venv-latest
WHEEL_DIR   ?= dist

.PHONY: demo test test-latest wheel-test fuzz lint bench constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the package metadata or the pins change.
$(VENV)/.installed: setup.cfg pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[test]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/refine demo -o $(OUT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q tests

# The same suite against the newest releases setup.cfg allows (no pins), in a venv of its own.
test-latest:
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[test]"
	$(LATEST_VENV)/bin/python -m pip list --format=freeze | grep -i -E '^(numpy|scipy|lmfit|asteval|pyfai|fabio)=' || true
	$(LATEST_VENV)/bin/python -m pytest -q tests

# Build the wheel, install it (with the pins) in a new venv outside the clone and run `refine demo` from there.
wheel-test: $(BIN)/python
	rm -rf $(WHEEL_DIR) build
	$(BIN)/python -m pip wheel --quiet --no-deps -w $(WHEEL_DIR) .
	$(BIN)/python tools/wheel_test.py --wheel-dir $(WHEEL_DIR) --constraints $(CONSTRAINTS)

# Reader fuzzing with many more examples than the CI suite runs.
fuzz: $(VENV)/.installed-test
	REFINE_FUZZ_EXAMPLES=20000 $(BIN)/python -m pytest -q tests -k fuzz --hypothesis-show-statistics

lint: $(VENV)/.installed-test
	$(BIN)/ruff check refine tests benchmarks tools
	$(BIN)/python tools/check_layers.py

bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[bench]"
	$(BIN)/python benchmarks/bench_integrate.py

# Re-pin: the versions of the current .venv (run after `make test-latest` passes with a newer set, from that venv).
constraints: $(VENV)/.installed-test
	$(BIN)/python tools/write_constraints.py $(CONSTRAINTS)

clean:
	rm -rf $(OUT) build $(WHEEL_DIR) *.egg-info
