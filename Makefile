# The two set-up commands from the README: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test soak lint typecheck examples bench clean browser protos js-sdk

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# make serve PORT=8080 HOST=0.0.0.0 (defaults: outlast serve's, 127.0.0.1:3500)
serve: $(STAMP)
	$(BIN)/outlast serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

# The JavaScript Dapr workflow SDK for tests/grpc/test_js_sdk.py, from npm at the
# versions of tests/grpc/js/package-lock.json (needs node and npm).
JS_SDK := tests/grpc/js/node_modules/.installed
js-sdk: $(JS_SDK)
$(JS_SDK): tests/grpc/js/package.json tests/grpc/js/package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --prefix tests/grpc/js --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the JavaScript SDK test will skip (and fail under CI=true)"; fi

# The checked-in protobuf modules of the gRPC sidecar, from the vendored protos
# (src/outlast/grpc/protos/README.md says where they come from).
protos: $(STAMP)
	$(BIN)/python -m outlast.grpc.protos.generate

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck browser js-sdk
	$(BIN)/pytest -q

# The crash loop of tests/faults at a larger size: 100 SIGKILLs of a worker in the
# middle of 360 workflows, on SQLite and on PostgreSQL (skipped without a server).
soak: $(STAMP)
	OUTLAST_CRASH_KILLS=100 OUTLAST_CRASH_PER_KIND=60 OUTLAST_CRASH_DEADLINE=900 \
	  $(BIN)/pytest -q -s --timeout 3600 tests/faults/test_crash_loop.py
# The dashboard's browser tests drive Debian's Chromium (never a browser that
# Playwright downloads); installed here when missing, so a new machine gets it.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null \
	    || echo "could not install chromium: the browser tests will skip (and fail under CI=true)"; \
	fi

examples: $(STAMP)
	for f in src/outlast/examples/[a-z]*.py; do \
	  case $$f in */app.py) continue;; esac; \
	  $(BIN)/python -m outlast.examples.$$(basename $$f .py) || exit 1; \
	done

# Benchmarks (bench/) in their own venv, so DBOS, a benchmark peer and never a
# dependency of outlast, stays out of .venv. Options, given on the make line
# (make exports them to the runner): SCENARIOS=S1,S2 RUNS=3 QUICK=1 SYSTEMS=dbos
# SIZES=s5_idle=20000 BENCH_OUT=dir BENCH_DIR=dir BENCH_KEEP=1 BENCH_MERGE=1 (see bench/run.py).
# PostgreSQL: SCENARIOS=S1PG,S2PG runs S1 and S2 with both systems on fresh
# databases of one server (BENCH_PG=postgresql://postgres@127.0.0.1:5432/postgres,
# the default) and outlast with PG_WORKERS=1,2,3 worker processes; they are part
# of the default set and skipped, with a message, when no server answers.
# SCENARIOS=HTTP: the keep-alive latency of `outlast serve` (bench/http_latency.py).
bench:
	@test -x .bench-venv/bin/python || $(PYTHON) -m venv .bench-venv
	@if [ ! -f .bench-venv/.installed ] || [ pyproject.toml -nt .bench-venv/.installed ] \
	    || [ bench/requirements.txt -nt .bench-venv/.installed ]; then \
	  .bench-venv/bin/pip install --quiet --upgrade pip && \
	  .bench-venv/bin/pip install --quiet -e '.[server,postgres]' -r bench/requirements.txt && \
	  touch .bench-venv/.installed; \
	fi
	BENCH_COMMAND='$(strip make bench $(foreach v,SCENARIOS RUNS QUICK SYSTEMS SIZES PG_WORKERS,$(if $($(v)),$(v)=$($(v)))))' \
	  .bench-venv/bin/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
