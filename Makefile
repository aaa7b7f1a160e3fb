# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile

.PHONY: demo test lint bench clean lock

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,dev]' -c constraints.txt
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/assay demo

test: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src
	@# pytest's exit 5 (no tests collected) is a failure, said in words.
	@# One worker per core, at most 4 (each may start its own PostgreSQL and S3 servers,
	@# and keeps a warm interpreter its assay commands fork from: tests/forked_cli.py);
	@# a test file stays on one worker, so its module fixtures are built once.
	$(VENV)/bin/pytest $(PYTEST_PARALLEL) || { code=$$?; [ $$code -ne 5 ] || echo 'pytest collected no tests: failing' >&2; exit $$code; }

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: $(VENV)/.installed
	$(PY) bench/compose.py

clean:
	rm -rf $(VENV) assay-demo .pytest_cache

# Local version labels (torch's +cpu) name no release on PyPI: strip them so the file
# resolves from the public index (a local CPU wheel still satisfies torch==X).
lock: $(VENV)/.installed
	(head -n 2 constraints.txt; $(PY) -m pip freeze | grep -v '^-e' | grep -v '^#' | grep -v '^assay' | sed -E 's/\+[A-Za-z0-9.]+$$//') > constraints.new && mv constraints.new constraints.txt
