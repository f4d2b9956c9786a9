# pairbot: the two commands of the README's Quick start, and a few more.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# compileall: an editable install leaves our modules uncompiled, and with PYTHONDONTWRITEBYTECODE set (as on
# some CI hosts) every run would compile them again (about 0.05 s of each command's start)
$(STAMP): $(BIN)/python pyproject.toml
	@echo "installing pairbot and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@($(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -e '.[dev]' \
		&& $(BIN)/python -m compileall -q bot strategies) \
		> $(VENV)/install.log 2>&1 || (tail -n 40 $(VENV)/install.log; exit 1)
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pairbot rebalance --config config.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check bot strategies tests bench
	$(BIN)/mypy

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .state logs/*.jsonl reports
