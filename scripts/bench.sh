#!/usr/bin/env bash
# Benchmarks Comptoir as docs/BENCHMARKS.md describes: a release build serving the demo catalog
# grown to $PRODUCTS products, driven over loopback by comptoir-bench. Prints cold start, idle
# memory and per-scenario throughput and latency. Everything runs on this machine.
#
#   PRODUCTS=10000 CONCURRENCY=64 DURATION=10 bash scripts/bench.sh [scenario...]
#
# The same on PostgreSQL (one database per module on 127.0.0.1:5432) and a broker:
#   BACKEND=postgres BUS=rabbitmq bash scripts/bench.sh checkout
# Event bus providers alone (persistent events, publish to handled):
#   bash scripts/bench.sh events            # memory, rabbitmq, nats and kafka
# The distributed topology (scripts/topology.sh: every module its own service, the gateway in
# front, PostgreSQL + RabbitMQ) beside a monolith on the same databases and broker: gateway
# overhead for the same requests, gRPC latency between services, checkouts through the gateway:
#   PRODUCTS=1000 bash scripts/bench.sh distributed
# The web pages (storefront and back office, issue #6), each alone, by 1 then 16 visitors, after a
# few checkouts so that the order pages have content; ends with the server's own time per route:
#   PRODUCTS=10000 DURATION=10 bash scripts/bench.sh pages
set -euo pipefail
cd "$(dirname "$0")/.."

PRODUCTS=${PRODUCTS:-10000}
CONCURRENCY=${CONCURRENCY:-64}
DURATION=${DURATION:-10}
PORT=${PORT:-18080}
BACKEND=${BACKEND:-sqlite}
BUS=${BUS:-memory}
MODULES=(identity catalog inventory cart payment billing shipping notification ordering admin search webhooks recommendations pos reporting audit api)

if [ "${1:-}" = "events" ]; then
    cargo build --release --locked -p comptoir-bench --bin comptoir-bench-events
    TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    TANSU="${COMPTOIR_TEST_TANSU:-$HOME/.cache/comptoir/tools/bin/tansu}"
    "$TANSU" broker --storage-engine memory://tansu/ --listener-url tcp://127.0.0.1:19092 \
        --advertised-listener-url tcp://127.0.0.1:19092 >/dev/null 2>&1 &
    TANSU_PID=$!
    trap 'kill $TANSU_PID 2>/dev/null || true' EXIT
    sleep 1
    for provider in ${PROVIDERS:-memory rabbitmq nats kafka}; do
        # Capacity: as fast as the bus takes them (latency here is mostly time spent in the backlog).
        "$TARGET/release/comptoir-bench-events" "$provider" --kafka-brokers 127.0.0.1:19092 ${EVENTS:+--events $EVENTS}
        # Latency of a bus that keeps up: a steady rate, small batches as a busy outbox relays them.
        "$TARGET/release/comptoir-bench-events" "$provider" --kafka-brokers 127.0.0.1:19092 \
            --rate "${RATE:-2000}" --batch 10 --events "${PACED_EVENTS:-20000}"
    done
    exit 0
fi

if [ "${1:-}" = "distributed" ]; then
    cargo build --release --locked -p comptoir -p comptoir-bench
    TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    BIN="$TARGET/release"
    GATEWAY=18081 MONOLITH=18080
    export COMPTOIR_BIN="$BIN/comptoir" TOPOLOGY_NAME=bench GATEWAY_PORT=$GATEWAY TOPOLOGY_DIR="$TARGET/bench-topology"
    # One load generator on one address is many clients here: rate limits off.
    export TOPOLOGY_ENV="COMPTOIR_LOG__LEVEL=warn COMPTOIR_HTTP__RATE_LIMIT__PER_IP=0 COMPTOIR_HTTP__RATE_LIMIT__PER_CUSTOMER=0 COMPTOIR_HTTP__RATE_LIMIT__PER_API_KEY=0"
    echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    MONOLITH_PID=
    trap '[ -z "$MONOLITH_PID" ] || { kill $MONOLITH_PID 2>/dev/null; wait $MONOLITH_PID 2>/dev/null; }; bash scripts/topology.sh stop' EXIT
    RESET=1 DEMO=1 DEMO_PRODUCTS="$PRODUCTS" bash scripts/topology.sh start
    # The monolith: every module in one process, on the topology's databases and broker.
    (
        # Only the topology's settings (COMPTOIR_BIN and the like are this script's), minus the
        # service addresses: every module runs in this process.
        while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^COMPTOIR_' || true)
        set -a
        . "$TOPOLOGY_DIR/comptoir.env"
        set +a
        while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^COMPTOIR_SERVICES__' || true)
        export COMPTOIR_HTTP__ADDR="127.0.0.1:$MONOLITH" COMPTOIR_DATA_DIR="$TOPOLOGY_DIR/data/monolith"
        # Eleven pools of 4 beside the topology's eleven of 5 stay under PostgreSQL's 100 connections.
        export COMPTOIR_STORAGE__POSTGRES_POOL_SIZE=4
        # The topology's storefront and back office hold the web ports; this monolith serves the API only.
        export COMPTOIR_WEB__ENABLED=false
        exec "$BIN/comptoir" serve >"$TOPOLOGY_DIR/logs/monolith.log" 2>&1
    ) &
    MONOLITH_PID=$!
    until curl -sf "http://127.0.0.1:$MONOLITH/readyz" >/dev/null; do
        kill -0 $MONOLITH_PID 2>/dev/null || { echo "the monolith exited; see $TOPOLOGY_DIR/logs/monolith.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "== gateway overhead: the same requests on the same data, one client at a time ($DURATION s each)"
    for scenario in product-detail me admin-stock; do
        for side in monolith:$MONOLITH gateway:$GATEWAY; do
            echo "-- ${side%%:*}"
            "$BIN/comptoir-bench" --base "http://127.0.0.1:${side#*:}" --concurrency 1 --duration "$DURATION" "$scenario"
        done
    done
    echo "== gRPC calls between two processes (this one and the catalog and inventory services)"
    set -a
    . "$TOPOLOGY_DIR/comptoir.env"
    set +a
    "$BIN/comptoir-bench-grpc" --duration "$DURATION" \
        --catalog-db "$COMPTOIR_DATABASES__CATALOG" --inventory-db "$COMPTOIR_DATABASES__INVENTORY"
    echo "== checkouts through the gateway, $CONCURRENCY buyers"
    "$BIN/comptoir-bench" --base "http://127.0.0.1:$GATEWAY" --concurrency "$CONCURRENCY" --duration "$DURATION" checkout
    echo "== the same checkouts through the monolith"
    "$BIN/comptoir-bench" --base "http://127.0.0.1:$MONOLITH" --concurrency "$CONCURRENCY" --duration "$DURATION" checkout
    exit 0
fi

cargo build --release --locked -p comptoir -p comptoir-bench
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET/release"
DATA=${BENCH_DATA:-$TARGET/bench-data-$BACKEND-$PRODUCTS}
export COMPTOIR_DATA_DIR="$DATA" COMPTOIR_LOG__LEVEL=warn COMPTOIR_EVENTS__PROVIDER="$BUS"
# One load generator on one address is many clients here: per-IP and per-customer limits off.
export COMPTOIR_HTTP__RATE_LIMIT__PER_IP=0 COMPTOIR_HTTP__RATE_LIMIT__PER_CUSTOMER=0 COMPTOIR_HTTP__RATE_LIMIT__PER_API_KEY=0
[ "$BUS" = memory ] || export COMPTOIR_EVENTS__NAMESPACE="bench-$PRODUCTS"

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== $BACKEND databases, $BUS event bus"
if [ "$BACKEND" = postgres ]; then
    for module in "${MODULES[@]}"; do
        export "COMPTOIR_DATABASES__${module^^}=postgres://postgres@127.0.0.1:5432/comptoir_bench_$module"
    done
fi
if [ ! -f "$DATA/loaded" ]; then
    echo "== loading the demo catalog with $PRODUCTS products"
    if [ "$BACKEND" = postgres ]; then
        for module in "${MODULES[@]}"; do
            psql -h 127.0.0.1 -U postgres -qX -c "DROP DATABASE IF EXISTS comptoir_bench_$module WITH (FORCE)" \
                -c "CREATE DATABASE comptoir_bench_$module"
        done
    fi
    rm -rf "$DATA" && mkdir -p "$DATA"
    "$BIN/comptoir" demo --products "$PRODUCTS"
    touch "$DATA/loaded"
fi

if [ "${1:-}" = "pages" ]; then
    # The web pages (issue #6): the storefront and the back office served by the same process as
    # the API, on free ports. Each page is measured alone, first by one visitor (its latency is the
    # page's time) and then by PAGE_CONCURRENCY visitors (throughput).
    free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
    STOREFRONT=$(free_port)
    BACKOFFICE=$(free_port)
    while [ "$BACKOFFICE" = "$STOREFRONT" ]; do BACKOFFICE=$(free_port); done
    API="http://127.0.0.1:$PORT" SHOP="http://127.0.0.1:$STOREFRONT" OFFICE="http://127.0.0.1:$BACKOFFICE"
    if [ "$BACKEND" = sqlite ]; then
        # A copy of the loaded demo, so that every run measures the same shop: the orders placed
        # below (and the runs' carts and sessions) do not pile up from one run to the next.
        rm -rf "$DATA-pages" && cp -a "$DATA" "$DATA-pages"
        export COMPTOIR_DATA_DIR="$DATA-pages"
        if [ "${ANALYZE:-0}" = 1 ]; then
            # Diagnosis only (needs the sqlite3 shell): gives SQLite's query planner the statistics
            # Comptoir never gathers, to see the pages as they are with them (docs/BENCHMARKS.md).
            for db in "$DATA-pages"/*.sqlite; do sqlite3 "$db" ANALYZE; done
        fi
    fi
    COMPTOIR_HTTP__ADDR="127.0.0.1:$PORT" COMPTOIR_WEB__STOREFRONT_ADDR="127.0.0.1:$STOREFRONT" \
        COMPTOIR_WEB__BACKOFFICE_ADDR="127.0.0.1:$BACKOFFICE" COMPTOIR_WEB__SECURE_COOKIES=false \
        "$BIN/comptoir" serve &
    PID=$!
    trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
    for url in "$API" "$SHOP" "$OFFICE"; do
        until curl -sf "$url/readyz" >/dev/null; do
            kill -0 $PID 2>/dev/null || { echo "the server exited" >&2; exit 1; }
            sleep 0.05
        done
    done
    echo "== API $API, storefront $SHOP, back office $OFFICE"
    echo "== placing orders first, so that the order pages, dashboard and report have content"
    "$BIN/comptoir-bench" --base "$API" --concurrency "${ORDER_BUYERS:-8}" --duration "${ORDER_SECONDS:-3}" checkout
    TOKEN=$(curl -sf "$API/api/v1/staff/auth/login" -H 'content-type: application/json' \
        -d '{"email": "admin@comptoir.test", "password": "demo-admin-password"}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
    ORDERS=$(curl -sf -H "authorization: Bearer $TOKEN" "$API/api/v1/admin/orders?per_page=1" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
    echo "orders in the shop: $ORDERS"
    for concurrency in 1 ${PAGE_CONCURRENCY:-16}; do
        echo "== pages, $concurrency visitor(s), $DURATION s per page"
        "$BIN/comptoir-bench" --base "$API" --storefront "$SHOP" --backoffice "$OFFICE" \
            --concurrency "$concurrency" --duration "$DURATION" storefront backoffice
    done
    # The whole run as the server recorded it (one registry for the process: a route both sites
    # have, `/` and `/login`, is the two together; the lines above are each page's own).
    echo "== server time by route over the whole run (http_request_duration_seconds on /metrics)"
    by_route=$(cat <<'EOF'
import re, sys
seen = {}
for line in sys.stdin:
    m = re.match(r'http_request_duration_seconds_(sum|count)\{(.*)\} (\S+)$', line)
    if not m or 'method="GET"' not in m.group(2):
        continue
    route = re.search(r'route="([^"]*)"', m.group(2)).group(1)
    if not route.startswith(('/api/', '/static/')) and route not in ('/metrics', '/readyz', '/healthz'):
        seen.setdefault(route, {})[m.group(1)] = float(m.group(3))
print(f"{'route':<20} {'requests':>9} {'mean ms':>8}")
for route, s in sorted(seen.items()):
    if s.get('count'):
        print(f"{route:<20} {s['count']:>9.0f} {s['sum'] / s['count'] * 1000:>8.2f}")
EOF
)
    curl -sf "$SHOP/metrics" | python3 -c "$by_route"
    echo "memory after the pages (RSS): $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$PID/status)"
    echo "== which module took the load (comptoir extraction-report over the whole run)"
    "$BIN/comptoir" extraction-report --from "$API/metrics"
    exit 0
fi

echo "== cold start"
start=$(date +%s%N)
COMPTOIR_HTTP__ADDR="127.0.0.1:$PORT" "$BIN/comptoir" serve &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
    kill -0 $PID 2>/dev/null || { echo "the server exited" >&2; exit 1; }
    sleep 0.005
done
echo "ready in $(( ($(date +%s%N) - start) / 1000000 )) ms"
if [[ " $* " == *" search"* ]]; then
    # The search index is built in memory from the search module's tables at start: wait until it
    # holds every published product (the storefront searches a partial index meanwhile).
    published=$(curl -sf "http://127.0.0.1:$PORT/api/v1/products?per_page=1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
    until [ "$(curl -sf "http://127.0.0.1:$PORT/api/v1/search?per_page=1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')" = "$published" ]; do
        sleep 0.01
    done
    echo "search index of $published products complete $(( ($(date +%s%N) - start) / 1000000 )) ms after start"
fi
sleep 2
echo "idle memory (RSS): $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$PID/status)"

# Where the load's work went: CPU seconds of the server, PostgreSQL and RabbitMQ, and on
# PostgreSQL the transactions each module database committed (or rolled back).
# CPU seconds used so far by the processes named $1 (or with pid $2): utime + stime from /proc.
cpu_seconds() {
    { [ -n "${2:-}" ] && echo "$2" || pgrep -x "$1"; } | while read -r pid; do
        awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || true
    done | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%.1f", s / hz}'
}
pg_transactions() {
    psql -h 127.0.0.1 -U postgres -AtX -F' ' -c "SELECT datname, xact_commit, xact_rollback FROM pg_stat_database \
        WHERE datname LIKE 'comptoir_bench_%' ORDER BY datname"
}
if [ "$BACKEND" = postgres ]; then pg_transactions >"$DATA/transactions.before"; fi
cpu_before="$(cpu_seconds comptoir $PID) $(cpu_seconds postgres) $(cpu_seconds beam.smp)"

echo "== load"
"$BIN/comptoir-bench" --base "http://127.0.0.1:$PORT" --concurrency "$CONCURRENCY" --duration "$DURATION" "$@"
echo "memory after load (RSS): $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$PID/status)"
echo "$cpu_before $(cpu_seconds comptoir $PID) $(cpu_seconds postgres) $(cpu_seconds beam.smp)" |
    awk '{printf "CPU seconds during the load: comptoir %.1f, postgres %.1f, rabbitmq %.1f\n", $4 - $1, $5 - $2, $6 - $3}'
if [ "$BACKEND" = postgres ]; then
    echo "transactions during the load (committed / rolled back), by module database:"
    pg_transactions | join - "$DATA/transactions.before" |
        awk '{printf "  %-14s %7d / %d\n", substr($1, 16), $2 - $4, $3 - $5; c += $2 - $4; r += $3 - $5} END {printf "  %-14s %7d / %d\n", "all", c, r}'
fi
