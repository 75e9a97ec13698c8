# The two front-door commands. Both create or reuse .venv and install revive into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.revive-installed

.PHONY: test demo venv clean

venv: $(STAMP)

# Reinstall only when the dependency list changes; the editable install picks up code changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m revive.benchmarks.demo --out demo

clean:
	rm -rf demo build *.egg-info
