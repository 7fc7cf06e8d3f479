# Two commands do all set-up on a fresh machine:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DIST   := dist

.PHONY: run serve test test-packaging lint bench screenshots icon wheel package build ci clean

# First run: about a minute (Qt is a large download); each step says what it does.
$(STAMP): pyproject.toml
	@echo "==> [1/3] creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] updating pip"
	$(BIN)/pip install --quiet --upgrade pip
	@echo "==> [3/3] installing Callback Monitor and its dependencies (PySide6, twilio, flask, ...)"
	$(BIN)/pip install --progress-bar on -e '.[test]'
	touch $(STAMP)
	@echo "==> ready"

run: $(STAMP)
	$(BIN)/callback-monitor

serve: $(STAMP)
	$(BIN)/callback-monitor serve

# the packaging tests need a built wheel and PyInstaller folder: `make test-packaging` (CI: .ci/run)
# tests/pg start their own PostgreSQL: Debian's server package, installed here when missing (docs/TEAM.md)
test: $(STAMP)
	sh tests/pg/install_server.sh
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not packaging"

test-packaging: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m packaging -v tests/test_packaging.py

# ruff (RUF100: no unused noqa), dead code (vulture, [tool.vulture] in pyproject.toml), mypy strict on the
# core, the GUI and the tests
lint: $(STAMP)
	$(BIN)/ruff check receiver desktop tests bench tools
	$(BIN)/ruff format --check receiver desktop tests bench tools
	$(BIN)/vulture
	$(BIN)/mypy receiver desktop tests

bench: $(STAMP)
	$(BIN)/python bench/receiver.py

screenshots: $(STAMP)
	$(BIN)/python tools/screenshots.py
	$(BIN)/python tools/screenshots.py --dark

icon: $(STAMP)
	$(BIN)/python tools/make_icon.py

wheel: $(STAMP)
	rm -f $(DIST)/callback_monitor-*.whl
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir $(DIST) .
	@ls $(DIST)/callback_monitor-*.whl

# PyInstaller one-folder build: dist/callback-monitor/
package: $(STAMP)
	$(BIN)/pip install --quiet -e '.[build]'
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath $(DIST) --workpath build build.spec
	@echo "built $(DIST)/callback-monitor/ ($$(du -sh $(DIST)/callback-monitor | cut -f1))"

build: package

ci:
	./.ci/run

clean:
	rm -rf $(VENV) build $(DIST) .pytest_cache .mypy_cache .ruff_cache
