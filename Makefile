# Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Test processes side by side (pytest-xdist): one a core. Every PostgreSQL test has a database of its
# own and every SQLite test a folder of its own, so they do not meet.
TEST_WORKERS ?= auto
# The demo's signing key is public on purpose: never use it for a real list.
DEMO_SECRET_KEY := demo-only-signing-key-not-secret

.PHONY: install demo test test-fast bench lint format tools clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Build the sample issue and send it to the sample subscribers through the file outbox.
demo: $(STAMP)
	NEWSLETTER_SECRET_KEY=$${NEWSLETTER_SECRET_KEY:-$(DEMO_SECRET_KEY)} ./scripts/demo

## Real tools the tests use, from Debian's packages: headless Chromium, SpamAssassin.
tools:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v spamassassin >/dev/null || missing="$$missing spamassassin"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; the tests that use them will fail"; \
	  else echo "warning:$$missing missing: run 'sudo apt-get install$$missing'"; fi; \
	fi

## The whole test suite; storage tests also run on PostgreSQL when it answers on 127.0.0.1:5432.
test: $(STAMP) tools
	@if [ -z "$$NEWSLETTER_TEST_DATABASE_URL" ] && $(BIN)/python -c "import psycopg,sys; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=test', connect_timeout=3).close()" 2>/dev/null; then \
	  export NEWSLETTER_TEST_DATABASE_URL='$(PG_URL)'; \
	else echo "PostgreSQL not reachable on 127.0.0.1:5432: its storage runs will be skipped"; fi; \
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

## The suite without the browser and slow tests.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not browser and not slow" $(PYTEST_ARGS)

## Every benchmark, then the README's table from their results (bench/results/, committed with it).
bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.readme_table

lint: $(STAMP)
	$(BIN)/ruff check newsletter tests bench
	$(BIN)/ruff format --check newsletter tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format newsletter tests bench
	$(BIN)/ruff check --fix newsletter tests bench

clean:
	rm -rf build outbox newsletter.db newsletter.db-* .pytest_cache
