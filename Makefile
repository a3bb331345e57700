# The two commands of the README: `make run` and `make test`. Everything else is
# for maintainers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POT := locales/helpdesk.pot

.PHONY: install run test lint typecheck check extract update compile catalogs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install compile
	$(BIN)/helpdesk run

test: install compile
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy --strict core bot

check: lint typecheck test

# Catalogs (Babel): extract msgids from the code, merge them into both catalogs, compile.
extract: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k ngettext:1,2 --no-location \
		--sort-output --omit-header -o $(POT) .

update: extract
	$(BIN)/pybabel update -i $(POT) -d locales -D helpdesk --no-fuzzy-matching \
		--ignore-obsolete --width 100
	$(BIN)/python scripts/fill_english.py locales/en/LC_MESSAGES/helpdesk.po

compile: install
	$(BIN)/pybabel compile -d locales -D helpdesk --statistics

catalogs: update compile

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
