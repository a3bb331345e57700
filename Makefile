# The two commands of the README: `make run` and `make test`. Everything else is
# for maintainers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` needs only the runtime; the dev extra (pytest, Playwright, mypy, ...) is
# installed by the targets that use it.
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed-dev
POT := locales/helpdesk.pot
# make run PORT=8081 (or HELPDESK_WEB_PORT=8081 make run) when 8080 is taken.
PORT ?=

.PHONY: install run test lint typecheck check extract update compile catalogs bench clean

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(RUNTIME_STAMP) compile
	$(BIN)/helpdesk run $(if $(PORT),--port $(PORT))

test: install compile
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy --strict core bot

check: lint typecheck test

# Catalogs (Babel): extract msgids from the code, merge them into both catalogs, compile.
extract: $(RUNTIME_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k ngettext:1,2 --no-location \
		--sort-output --omit-header -o $(POT) .

update: extract
	$(BIN)/pybabel update -i $(POT) -d locales -D helpdesk --no-fuzzy-matching \
		--ignore-obsolete --width 100
	$(BIN)/python scripts/fill_english.py locales/en/LC_MESSAGES/helpdesk.po

compile: $(RUNTIME_STAMP)
	$(BIN)/pybabel compile -d locales -D helpdesk --statistics

catalogs: update compile

# Benchmarks (bench/README.md): a few minutes, needs PostgreSQL on 127.0.0.1:5432. The
# bench's tools are the `bench` extra of pyproject.toml; aiogram (a peer measured against
# us) caps pydantic below the version the project runs on, so it goes in without its
# dependencies (aiohttp is already ours) and the bench checks it against the Bot API spec.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet 'pyinstrument>=5' 'redis>=5'
	$(BIN)/python -m pip install --quiet --no-deps 'aiogram>=3.20,<4' 'magic-filter>=1.0.12' \
		'aiofiles>=23.2.1'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) compile
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
