# Two entry points: `make demo` and `make test`. Each bootstraps .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): requirements.lock pyproject.toml scripts/bootstrap.py
	@$(PYTHON) scripts/bootstrap.py
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/accord demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
