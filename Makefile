# Developer tasks. Every tool runs from the project's own virtualenv (.venv).
# `make test` is what CI runs (.ci/run): lint, types, docs, then the test suite
# against the real Firestore emulator (never skipped here).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed.stamp

# mkdocs-material prints a banner about its successor on every build.
export NO_MKDOCS_2_WARNING := 1

.PHONY: venv test lint typecheck docs bench demo clean

venv: $(STAMP)

# Re-install whenever pyproject.toml changes (new dependencies, entry points...).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy --strict firestore_verify

docs: venv
	$(BIN)/mkdocs build --strict --site-dir site

test: venv
	$(BIN)/ruff check .
	$(BIN)/mypy --strict firestore_verify
	$(BIN)/mkdocs build --strict --site-dir site
	FIRESTORE_VERIFY_REQUIRE_EMULATOR=1 $(BIN)/pytest

bench: venv
	@if [ -f bench/__main__.py ]; then \
		$(BIN)/python -m bench; \
	else \
		echo "no benchmarks yet (bench/__main__.py is missing)"; \
	fi

demo: venv
	$(BIN)/python -m firestore_verify.demo

clean:
	rm -rf site dist build .mypy_cache .ruff_cache .pytest_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
