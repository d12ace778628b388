#!/usr/bin/env bash
# Runs every test of the project: formatting and lints, the Rust unit and
# integration tests (server, example bots, benchmark smoke run), the suites
# again on PostgreSQL, and the web client's unit and browser tests. Installs
# what the tests need on a fresh machine: the Python bots' packages (pip),
# Node packages, and Debian's Chromium, Caddy and PostgreSQL when running as
# root.
#
# Every stage runs even when an earlier one failed (a stage that needs an
# earlier one's output says so and is counted as failed); the run ends with
# a summary of each stage and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

declare -a summary=()
failed=0

step() { printf '\n==> %s\n' "$*"; }

# stage NAME COMMAND...: runs the command as one stage and records it.
stage() {
  local name="$1"
  shift
  step "$name"
  local started=$SECONDS
  if "$@"; then
    summary+=("PASS  $name ($((SECONDS - started)) s)")
  else
    summary+=("FAIL  $name ($((SECONDS - started)) s)")
    failed=1
  fi
}

# A stage that could not run, and why.
missing() {
  summary+=("FAIL  $1: $2")
  failed=1
  echo "$1: $2" >&2
}

print_summary() {
  printf '\n==> summary\n'
  printf '  %s\n' "${summary[@]}"
  if [ "$failed" = 0 ]; then
    echo "all tests passed"
  else
    echo "SOME TESTS FAILED"
  fi
}

as_root_with_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings

if ! command -v caddy >/dev/null && as_root_with_apt; then
  step "installing Debian's caddy for the reverse-proxy test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null
fi

if ! python3 -c 'import flask, gunicorn, brotli, requests' 2>/dev/null; then
  step "installing the Python bots' packages for the python bot tests"
  # PIP_BREAK_SYSTEM_PACKAGES: Debian's python3 refuses pip installs otherwise.
  PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    python3 -m pip install -q -r tests/pybots/requirements.txt \
    || missing "python bots' packages" "pip could not install tests/pybots/requirements.txt"
fi

# A throwaway PostgreSQL cluster of this run's own for the PostgreSQL
# tests, unless one is given in NECSUS_TEST_POSTGRES.
if [ -z "${NECSUS_TEST_POSTGRES:-}" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && as_root_with_apt; then
    step "installing Debian's postgresql for the PostgreSQL tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  step "starting a throwaway PostgreSQL cluster"
  if url=$(tests/pg-cluster.sh start); then
    export NECSUS_TEST_POSTGRES="$url"
    trap 'tests/pg-cluster.sh stop "$NECSUS_TEST_POSTGRES"' EXIT
  elif [ -n "${CI:-}" ]; then
    missing "PostgreSQL" "no cluster could be started and CI is set: its tests cannot be skipped"
  else
    echo "!!! SKIPPING the PostgreSQL tests: no PostgreSQL server could be started" >&2
  fi
fi

stage "cargo test (server, example bots, benchmark smoke run; tests/postgres.rs on PostgreSQL)" \
  cargo test --workspace --locked --no-fail-fast

if [ -n "${NECSUS_TEST_POSTGRES:-}" ]; then
  stage "cargo test: the API, bots, conversations, websocket, calls, hardening, rate-limit, HTTP-client and Python-bot suites again, on PostgreSQL" \
    env NECSUS_TEST_BACKEND=postgres cargo test --locked --no-fail-fast -p necsus --test it -- \
    api:: bots:: conversations:: websocket:: calls:: \
    hardening:: ratelimit:: bot_http:: python_bots::
fi

client_build() {
  (cd client && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) || return 1
  (cd client && npm run build) || return 1
  if ! git diff --quiet -- client/dist || [ -n "$(git ls-files --others --exclude-standard client/dist)" ]; then
    echo "client/dist differs from the committed build: run 'npm run build' in client/ and commit it" >&2
    git status --short client/dist >&2
    return 1
  fi
}

browser_tests() {
  cargo build --workspace --locked || return 1
  cargo build --release --locked -p necsus || return 1
  # Where cargo put them (CARGO_TARGET_DIR, when set, moves the target dir).
  local target
  target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)" || return 1
  (cd client && NECSUS_BIN="$target/debug/necsus" EXAMPLE_BOTS_BIN="$target/debug/example_bots" \
    NECSUS_INSTANCES_BIN="$target/release/necsus" npm run test:e2e)
}

if [ -f client/package.json ]; then
  if [ ! -x /usr/bin/chromium ] && as_root_with_apt; then
    step "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  stage "web client: npm ci, reproducible build" client_build
  if [ -d client/node_modules ]; then
    stage "web client: unit tests" bash -c 'cd client && npm run test:unit'
  else
    missing "web client: unit tests" "npm ci did not install the client's packages"
  fi
  if [ -x /usr/bin/chromium ]; then
    stage "web client: browser tests against the real server (several instances: release binaries)" \
      browser_tests
  elif [ -n "${CI:-}" ]; then
    missing "web client: browser tests" "Chromium is missing and CI is set: they cannot be skipped"
  else
    echo "!!! SKIPPING the browser tests: /usr/bin/chromium is not installed (apt-get install chromium)" >&2
  fi
fi

print_summary
exit "$failed"
