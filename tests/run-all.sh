#!/usr/bin/env bash
# Runs every test of the project: formatting and lints, the Rust unit and
# integration tests (server, example bots, benchmark smoke run), and the web
# client's unit and browser tests. Installs what the tests need on a fresh
# machine: the Python bots' packages (pip), Node packages, and Debian's Chromium
# and Caddy when running as root.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

if ! command -v caddy >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  step "installing Debian's caddy for the reverse-proxy test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null
fi

if ! python3 -c 'import flask, gunicorn, brotli, requests' 2>/dev/null; then
  step "installing the Python bots' packages for the python bot tests"
  # PIP_BREAK_SYSTEM_PACKAGES: Debian's python3 refuses pip installs otherwise.
  PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    python3 -m pip install -q -r tests/pybots/requirements.txt
fi

# A throwaway PostgreSQL cluster for the PostgreSQL tests, unless one is
# given in NECSUS_TEST_POSTGRES.
if [ -z "${NECSUS_TEST_POSTGRES:-}" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing Debian's postgresql for the PostgreSQL tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  step "starting a throwaway PostgreSQL cluster"
  if url=$(tests/pg-cluster.sh start); then
    export NECSUS_TEST_POSTGRES="$url"
    trap 'tests/pg-cluster.sh stop' EXIT
  elif [ -n "${CI:-}" ]; then
    echo "PostgreSQL could not be started and CI is set: its tests cannot be skipped" >&2
    exit 1
  else
    echo "!!! SKIPPING the PostgreSQL tests: no PostgreSQL server could be started" >&2
  fi
fi

step "cargo test (server, example bots, benchmark smoke run; tests/postgres.rs on PostgreSQL)"
cargo test --workspace --locked

if [ -n "${NECSUS_TEST_POSTGRES:-}" ]; then
  step "cargo test: the API, bots, conversations, websocket, calls, hardening, rate-limit, HTTP-client and Python-bot suites again, on PostgreSQL"
  NECSUS_TEST_BACKEND=postgres cargo test --locked -p necsus \
    --test api --test bots --test conversations --test websocket --test calls \
    --test hardening --test ratelimit --test bot_http --test python_bots
fi

if [ -f client/package.json ]; then
  if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  step "web client: npm ci, reproducible build, unit tests"
  (cd client && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  (cd client && npm run build)
  if ! git diff --quiet -- client/dist || [ -n "$(git ls-files --others --exclude-standard client/dist)" ]; then
    echo "client/dist differs from the committed build: run 'npm run build' in client/ and commit it" >&2
    git status --short client/dist >&2
    exit 1
  fi
  (cd client && npm run test:unit)

  step "web client: browser tests against the real server (several instances: release binaries)"
  cargo build --workspace --locked
  cargo build --release --locked -p necsus
  if [ -x /usr/bin/chromium ]; then
    (cd client && NECSUS_BIN="$PWD/../target/debug/necsus" EXAMPLE_BOTS_BIN="$PWD/../target/debug/example_bots" \
      NECSUS_INSTANCES_BIN="$PWD/../target/release/necsus" npm run test:e2e)
  elif [ -n "${CI:-}" ]; then
    echo "Chromium is missing and CI is set: browser tests cannot be skipped" >&2
    exit 1
  else
    echo "!!! SKIPPING the browser tests: /usr/bin/chromium is not installed (apt-get install chromium)" >&2
  fi
fi

step "all tests passed"
