# Developer tasks. Every tool runs from the project's own virtualenv (.venv).
# `make test` is what CI runs (.ci/run): lint, types, docs, then the test suite
# against the real Firestore emulator (never skipped here).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed.stamp
# The JavaScript tools the tests run: the Firebase Auth emulator and the rules tests.
NODE_STAMP := node_modules/.installed.stamp

# mkdocs-material prints a banner about its successor on every build.
export NO_MKDOCS_2_WARNING := 1

.PHONY: venv system-deps vendor-js test lint typecheck docs bench soak demo bot-demo clean

venv: $(STAMP) $(NODE_STAMP) system-deps

# Debian packages the tests start: Chromium for the browser tests (never
# `playwright install`) and redis-server for the shared rate limits and cache;
# docker-compose only validates deploy/compose.yaml (no engine: its
# recommends, docker.io among them, are left out), nginx fronts the bot fleet.
SYSTEM_PACKAGES := chromium redis-server
LEAN_PACKAGES := docker-compose nginx
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	lean=""; for p in $(LEAN_PACKAGES); do command -v $$p >/dev/null || lean="$$lean $$p"; done; \
	if [ -n "$$missing$$lean" ]; then apt-get update -qq; fi; \
	if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	if [ -n "$$lean" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $$lean >/dev/null; fi

# Refresh the dashboard's vendored JavaScript (htmx 2, htmx-ext-sse, Chart.js) from npm.
vendor-js:
	examples/dashboard/scripts/vendor_js.sh

# Re-install whenever pyproject.toml changes (new dependencies, entry points...).
$(STAMP): pyproject.toml examples/bot/pyproject.toml examples/api/pyproject.toml \
		examples/dashboard/pyproject.toml examples/aiogram/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e 'examples/bot[test]'
	$(BIN)/python -m pip install --quiet -e 'examples/api[test,redis]'
	$(BIN)/python -m pip install --quiet -e 'examples/dashboard[test]'
	$(BIN)/python -m pip install --quiet -e 'examples/aiogram[test]'
	touch $(STAMP)

# firebase-tools without its optional packages: 44 s instead of 5 minutes.
$(NODE_STAMP): package.json package-lock.json
	npm ci --omit=optional --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy --strict firestore_verify
	$(BIN)/mypy --strict examples/bot/fsv_bot
	$(BIN)/mypy --strict examples/api/fsv_api
	$(BIN)/mypy --strict examples/dashboard/fsv_dashboard
	$(BIN)/mypy --strict examples/aiogram/fsv_aiogram
	MYPYPATH=examples/bot $(BIN)/mypy --strict scripts

docs: venv
	$(BIN)/mkdocs build --strict --site-dir site

test: venv
	$(BIN)/ruff check .
	$(BIN)/mypy --strict firestore_verify
	$(BIN)/mypy --strict examples/bot/fsv_bot
	$(BIN)/mypy --strict examples/api/fsv_api
	$(BIN)/mypy --strict examples/dashboard/fsv_dashboard
	$(BIN)/mypy --strict examples/aiogram/fsv_aiogram
	MYPYPATH=examples/bot $(BIN)/mypy --strict scripts
	$(BIN)/mkdocs build --strict --site-dir site
	FIRESTORE_VERIFY_REQUIRE_EMULATOR=1 $(BIN)/pytest
	FIRESTORE_VERIFY_REQUIRE_EMULATOR=1 $(BIN)/pytest examples/bot/tests
	FIRESTORE_VERIFY_REQUIRE_EMULATOR=1 $(BIN)/pytest examples/api/tests
	FIRESTORE_VERIFY_REQUIRE_EMULATOR=1 $(BIN)/pytest examples/dashboard/tests
	FIRESTORE_VERIFY_REQUIRE_EMULATOR=1 $(BIN)/pytest examples/aiogram/tests

bench: venv
	@if [ -f bench/__main__.py ]; then \
		$(BIN)/python -m bench; \
	else \
		echo "no benchmarks yet (bench/__main__.py is missing)"; \
	fi

# The simulated bot under scheduled network faults for about ten minutes (SOAK_MINUTES),
# then a recount: prints events taken / stored / lost / duplicated and memory; fails on loss.
SOAK_MINUTES ?= 10
soak: venv
	$(BIN)/python scripts/soak.py --minutes $(SOAK_MINUTES)

# The whole system: emulators, a demo owner, the simulated bot, the API and the live
# dashboard (its URL and sign-in are printed); Ctrl-C stops it all, the data is kept.
demo: venv
	$(BIN)/python scripts/demo.py

# The reference bot alone under synthetic traffic, with live totals in the terminal.
bot-demo: venv
	$(BIN)/python -m fsv_bot.demo

clean:
	rm -rf site dist build .mypy_cache .ruff_cache .pytest_cache *.egg-info node_modules
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
