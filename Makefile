# The README's two commands. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# loadgroup: the tests of one xdist_group run on one worker, so their fixture runs once.
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: demo test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-cpu: setup.py | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[cpu]"
	touch $@

$(VENV)/.installed-test: setup.py | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[cpu,test,torch]"
	touch $@ $(VENV)/.installed-cpu

demo: $(VENV)/.installed-cpu
	$(VENV)/bin/avjax demo --workdir runs/demo

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS) tests

clean:
	rm -rf runs .pytest_cache
