# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean lock

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' -c constraints.txt
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/assay demo

test: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: $(VENV)/.installed
	$(PY) bench/compose.py

clean:
	rm -rf $(VENV) assay-demo .pytest_cache

lock: $(VENV)/.installed
	(head -n 2 constraints.txt; $(PY) -m pip freeze | grep -v '^-e' | grep -v '^assay') > constraints.new && mv constraints.new constraints.txt
