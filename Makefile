# The two front-door commands. Both create or reuse .venv and install revive into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.revive-installed

.PHONY: test demo venv clean

venv: $(STAMP)

# Reinstall only when the dependency list changes; the editable install picks up code changes.
# `.[dev]` is every CPU-installable extra (train, export, serve, ray) plus pytest: what the tests need.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The suite includes tests/test_install.py (marker fresh_venv): a new venv with `pip install .`
# alone must run runtime-infer without torch. PYTEST_ARGS='-m "not fresh_venv"' leaves it out.
test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m revive.benchmarks.demo --out demo

clean:
	rm -rf demo build *.egg-info
