#!/usr/bin/env bash
# Runs every test of Comptoir: formatting, lints, unit tests, module integration tests against
# real SQLite databases, event-bus tests and the API tests over real HTTP. On a fresh machine it
# installs what the tests need first (only a Rust toolchain with rustfmt and clippy so far).
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "== formatting"
cargo fmt --all --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
cargo test --workspace --locked
