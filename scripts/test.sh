#!/usr/bin/env bash
# Runs every test of Comptoir: formatting, lints, unit tests, module integration tests against
# real SQLite databases, the event-bus contract suite against the in-process bus and against real
# RabbitMQ (127.0.0.1:5672), NATS JetStream (127.0.0.1:4222) and Kafka (a tansu broker the Kafka
# tests start), the API tests over real HTTP, the repository suites again against PostgreSQL on
# 127.0.0.1:5432, the whole API suite on PostgreSQL with RabbitMQ, and the same suite against the
# distributed topology (every module a gRPC service behind the gateway) and a mixed one. On a fresh machine it
# installs and starts what the tests need first; a server it cannot get running fails the run, loudly.
# The storefront and the back office are driven in headless Chromium (Debian's chromium with
# playwright-core from npm, both installed here when missing), in the monolith and in the
# distributed topology.
set -euo pipefail
cd "$(dirname "$0")/.."

# Crates whose test suites also run against PostgreSQL (COMPTOIR_TEST_BACKEND=postgres). The
# whole application (`comptoir`) runs there too, on RabbitMQ: every module on a PostgreSQL schema
# of its own, events through the broker, as a production deployment runs.
POSTGRES_SUITES=(comptoir-storage comptoir-eventbus comptoir-identity comptoir-catalog comptoir-inventory comptoir-cart comptoir-ordering comptoir-payment comptoir-billing comptoir-shipping comptoir-notification comptoir-admin comptoir-search comptoir-webhooks comptoir-recommendations comptoir-pos comptoir-reporting comptoir-audit
    comptoir-identity-grpc comptoir-catalog-grpc comptoir-inventory-grpc comptoir-cart-grpc comptoir-ordering-grpc
    comptoir-payment-grpc comptoir-billing-grpc comptoir-shipping-grpc comptoir-notification-grpc comptoir-admin-grpc comptoir-search-grpc comptoir-webhooks-grpc comptoir-recommendations-grpc
    comptoir-pos-grpc comptoir-reporting-grpc comptoir-audit-grpc)
# The Kafka-protocol broker the Kafka tests start (in-memory storage); built once, then cached.
TANSU_VERSION=0.6.0
TOOLS_DIR="${COMPTOIR_TOOLS_DIR:-$HOME/.cache/comptoir/tools}"

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

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1
}

wait_for_port() { # port seconds
    for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done
    port_open "$1"
}

apt_install() {
    echo "installing $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_rabbitmq() {
    command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
    if ! port_open 5672; then
        echo "RabbitMQ does not answer on 127.0.0.1:5672; starting it"
        rabbitmq-server -detached || true
        wait_for_port 5672 90 || true
        rabbitmqctl await_startup >/dev/null 2>&1 || true
    fi
    if ! port_open 5672; then
        echo "error: the event-bus tests need RabbitMQ on 127.0.0.1:5672 (guest/guest) and it is not running" >&2
        exit 1
    fi
}

ensure_nats() {
    [ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1 || apt_install nats-server
    if ! port_open 4222; then
        echo "NATS does not answer on 127.0.0.1:4222; starting it with JetStream"
        mkdir -p /var/lib/nats-server
        start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server || echo /usr/sbin/nats-server)" \
            -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
        wait_for_port 4222 30 || true
    fi
    if ! port_open 4222; then
        echo "error: the event-bus tests need NATS with JetStream on 127.0.0.1:4222 and it is not running" >&2
        exit 1
    fi
}

ensure_tansu() {
    export COMPTOIR_TEST_TANSU="$TOOLS_DIR/bin/tansu"
    if ! "$COMPTOIR_TEST_TANSU" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
        echo "building the tansu Kafka broker $TANSU_VERSION for the Kafka tests (once; cached in $TOOLS_DIR)"
        cargo install tansu --version "$TANSU_VERSION" --features dynostore --locked --root "$TOOLS_DIR"
    fi
}

# The browser tests: Debian's Chromium, Node.js and playwright-core (pinned in the lock file).
ensure_browser() {
    [ -x /usr/bin/chromium ] || apt_install chromium
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    local dir=crates/web/tests/browser
    if [ ! -d "$dir/node_modules/playwright-core" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "installing playwright-core for the browser tests"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    if [ ! -x /usr/bin/chromium ] || [ ! -d "$dir/node_modules/playwright-core" ]; then
        echo "error: the browser tests need /usr/bin/chromium and playwright-core, and they could not be installed" >&2
        exit 1
    fi
}

echo "== formatting"
cargo fmt --all --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== brokers and the browser"
ensure_rabbitmq
# A run stopped before its end leaves its test virtual host behind, thousands of durable queues
# that the contract suite's broker restart would then have to recover (seen: 16,000 queues, a
# start_app that never finished): start without it.
rabbitmqctl -q delete_vhost comptoir_test >/dev/null 2>&1 || true
ensure_nats
ensure_tansu
ensure_browser
# The webhook receiver of the API tests is the Python code docs/WEBHOOKS.md prints.
command -v python3 >/dev/null 2>&1 || apt_install python3

echo "== tests (SQLite; event buses on memory, RabbitMQ, NATS and Kafka)"
cargo test --workspace --locked

echo "== tests (PostgreSQL): ${POSTGRES_SUITES[*]}"
ensure_postgres
COMPTOIR_TEST_BACKEND=postgres cargo test --locked $(printf -- '-p %s ' "${POSTGRES_SUITES[@]}")

echo "== the whole application on PostgreSQL and RabbitMQ"
# Every test application declares its queues under a namespace of its own, in a virtual host that
# is deleted afterwards, so that test runs leave nothing on the broker.
rabbitmqctl -q delete_vhost comptoir_test >/dev/null 2>&1 || true
rabbitmqctl -q add_vhost comptoir_test
rabbitmqctl -q set_permissions -p comptoir_test guest '.*' '.*' '.*'
export COMPTOIR_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/comptoir_test
COMPTOIR_TEST_BACKEND=postgres COMPTOIR_TEST_BUS=rabbitmq cargo test --locked -p comptoir

echo "== the same API and browser suites against the distributed topology (PostgreSQL, RabbitMQ, gRPC, gateway)"
# Every module its own service behind the gateway, the storefront and the back office as their own
# roles; then the monolith with payment extracted.
COMPTOIR_TEST_TOPOLOGY=distributed COMPTOIR_TEST_BACKEND=postgres COMPTOIR_TEST_BUS=rabbitmq \
    cargo test --locked -p comptoir --test api --test web --test observability
COMPTOIR_TEST_TOPOLOGY=mixed COMPTOIR_TEST_BUS=rabbitmq cargo test --locked -p comptoir --test api
echo "== a RabbitMQ restart in the middle of a distributed run (alone: it stops the broker)"
# The suites above left thousands of durable queues in the test virtual host; a broker restarting
# with them spends minutes recovering them (13,000 queues on 927 file handles did not come back):
# this test gets a virtual host of its own queues only.
rabbitmqctl -q delete_vhost comptoir_test
rabbitmqctl -q add_vhost comptoir_test
rabbitmqctl -q set_permissions -p comptoir_test guest '.*' '.*' '.*'
COMPTOIR_TEST_TOPOLOGY=distributed COMPTOIR_TEST_BUS=rabbitmq \
    cargo test --locked -p comptoir --test api faults -- --ignored
unset COMPTOIR_TEST_RABBITMQ_URL
rabbitmqctl -q delete_vhost comptoir_test

echo "== checkout on NATS JetStream and on Kafka"
COMPTOIR_TEST_BUS=nats cargo test --locked -p comptoir --test api checkout
COMPTOIR_TEST_BUS=kafka cargo test --locked -p comptoir --test api checkout
