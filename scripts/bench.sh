#!/usr/bin/env bash
# Benchmarks Comptoir as docs/BENCHMARKS.md describes: a release build serving the demo catalog
# grown to $PRODUCTS products, driven over loopback by comptoir-bench. Prints cold start, idle
# memory and per-scenario throughput and latency. Everything runs on this machine.
#
#   PRODUCTS=10000 CONCURRENCY=64 DURATION=10 bash scripts/bench.sh [scenario...]
set -euo pipefail
cd "$(dirname "$0")/.."

PRODUCTS=${PRODUCTS:-10000}
CONCURRENCY=${CONCURRENCY:-64}
DURATION=${DURATION:-10}
PORT=${PORT:-18080}

cargo build --release --locked -p comptoir -p comptoir-bench
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET/release"
DATA=${BENCH_DATA:-$TARGET/bench-data-$PRODUCTS}

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
if [ ! -f "$DATA/catalog.sqlite" ]; then
    echo "== loading the demo catalog with $PRODUCTS products into $DATA"
    COMPTOIR_DATA_DIR="$DATA" COMPTOIR_LOG__LEVEL=warn "$BIN/comptoir" demo --products "$PRODUCTS"
fi

echo "== cold start"
start=$(date +%s%N)
COMPTOIR_DATA_DIR="$DATA" COMPTOIR_HTTP__ADDR="127.0.0.1:$PORT" COMPTOIR_LOG__LEVEL=warn "$BIN/comptoir" serve &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
    kill -0 $PID 2>/dev/null || { echo "the server exited" >&2; exit 1; }
    sleep 0.005
done
echo "ready in $(( ($(date +%s%N) - start) / 1000000 )) ms"
sleep 2
echo "idle memory (RSS): $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$PID/status)"

echo "== load"
"$BIN/comptoir-bench" --base "http://127.0.0.1:$PORT" --concurrency "$CONCURRENCY" --duration "$DURATION" "$@"
echo "memory after load (RSS): $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$PID/status)"
