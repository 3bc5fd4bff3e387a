#!/usr/bin/env bash
# Runs every test of Comptoir: formatting, lints, unit tests, module integration tests against
# real SQLite databases, event-bus tests, the API tests over real HTTP, and the repository suites
# again against PostgreSQL on 127.0.0.1:5432. On a fresh machine it installs and starts what the
# tests need first; a server it cannot get running fails the run, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

# Crates whose test suites also run against PostgreSQL (COMPTOIR_TEST_BACKEND=postgres); for
# `comptoir` that is the whole application, every module on a PostgreSQL schema of its own.
POSTGRES_SUITES=(comptoir-storage comptoir-eventbus comptoir-identity comptoir-catalog comptoir-inventory comptoir-cart comptoir-ordering comptoir-payment comptoir-billing comptoir-shipping comptoir-notification comptoir)

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed; install Rust from https://rustup.rs and run this again" >&2
    exit 1
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        echo "installing the $component component"
        rustup component add "$component"
    fi
done

postgres_ready() {
    pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null
}

ensure_postgres() {
    if ! command -v pg_isready >/dev/null 2>&1; then
        echo "installing PostgreSQL"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
    fi
    if ! postgres_ready; then
        echo "PostgreSQL does not answer on 127.0.0.1:5432; starting it"
        for version in $(ls /etc/postgresql 2>/dev/null); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
        for _ in $(seq 1 30); do postgres_ready && break; sleep 1; done
    fi
    if ! postgres_ready; then
        echo "error: the PostgreSQL test suites need PostgreSQL on 127.0.0.1:5432 and it is not running" >&2
        exit 1
    fi
    psql -h 127.0.0.1 -U postgres -qX -c "DROP DATABASE IF EXISTS comptoir_test WITH (FORCE)" -c "CREATE DATABASE comptoir_test"
}

echo "== formatting"
cargo fmt --all --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests (SQLite)"
cargo test --workspace --locked

echo "== tests (PostgreSQL): ${POSTGRES_SUITES[*]}"
ensure_postgres
COMPTOIR_TEST_BACKEND=postgres cargo test --locked $(printf -- '-p %s ' "${POSTGRES_SUITES[@]}")
