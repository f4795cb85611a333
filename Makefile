# The one entry point people and CI share. `make run` serves; `make test` tests everything.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint bench messages icons screenshots clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Vigil needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/python -m server init
	$(BIN)/python -m server serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's Chromium; install it when we can (root) and it is missing.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "Chromium is missing: install Debian's 'chromium' package (sudo apt-get install chromium)"; exit 1; \
	fi

# The Nu Html Checker (npm's vnu-jar, run with Java) checks every public page's markup.
VNU_JAR := .cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar
$(VNU_JAR):
	@command -v java >/dev/null || { echo "Java is missing: install Debian's default-jre-headless"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix .cache/vnu vnu-jar@26.9.27

# The suite runs twice: on SQLite, then on PostgreSQL in a throw-away cluster that the
# tests start as an ordinary user and remove at the end (tests/pgcluster.py). PostgreSQL
# comes from Debian's packages, installed when we can (root) and it is missing.
PG_CTL ?= $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_ctl) /usr/lib/postgresql/15/bin/pg_ctl)
$(PG_CTL):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	else \
		echo "PostgreSQL is missing: install Debian's 'postgresql' package"; exit 1; \
	fi

test: $(VENV)/.installed-dev $(CHROMIUM) $(VNU_JAR) $(PG_CTL)
	VIGIL_CHROMIUM=$(CHROMIUM) VIGIL_VNU_JAR=$(VNU_JAR) $(BIN)/python -m pytest
	VIGIL_CHROMIUM=$(CHROMIUM) VIGIL_VNU_JAR=$(VNU_JAR) VIGIL_TEST_DB=postgresql $(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check server tests benchmarks web/draw_icons.py
	$(BIN)/python -m pip install --quiet pip-audit
	$(BIN)/pip-audit --no-deps --disable-pip -r constraints.txt

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

# Extract UI strings into the template and every language's catalog (each catalog's
# Language header names its Babel locale); translators then fill the new entries.
messages: $(VENV)/.installed-dev
	$(BIN)/pybabel extract -F babel.cfg -o server/locale/messages.pot --no-location --sort-output .
	for po in server/locale/*/LC_MESSAGES/messages.po; do \
	  $(BIN)/pybabel update -i server/locale/messages.pot -o $$po --no-fuzzy-matching --ignore-obsolete \
	    -l $$(sed -n 's/^"Language: \(.*\)\\n"$$/\1/p' $$po) || exit 1; \
	done

# 360 px PNGs of the first pages a protester opens, both languages, under var/screenshots.
screenshots: $(VENV)/.installed-dev $(CHROMIUM)
	VIGIL_CHROMIUM=$(CHROMIUM) $(BIN)/python -m tests.screenshots var/screenshots

icons:
	$(PYTHON) web/draw_icons.py

clean:
	rm -rf $(VENV) .pytest_cache .cache
