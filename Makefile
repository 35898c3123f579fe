# forgebench: `make demo` runs the quickstart benchmark, `make test` runs the test suite.
# Both create .venv and install the project first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/quickstart.yaml

# The sample clips: use ../shared/data/clips when it exists, before any download.
SHARED_CLIPS := $(abspath ../shared/data/clips)
ifeq ($(FORGEBENCH_DATA_DIR),)
ifneq ($(wildcard $(SHARED_CLIPS)/d0.mp4),)
export FORGEBENCH_DATA_DIR := $(SHARED_CLIPS)
endif
endif

.PHONY: demo test venv clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/forgebench run $(CONFIG)

# ruff (lint and format check, settings in pyproject.toml) first: it takes a second.
# pytest exits 5 when it collects no test: that is a failure here.
test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) runs .pytest_cache
