#!/usr/bin/env bash
# Runs Comptoir's distributed topology on this machine: the ten modules each as its own gRPC
# service; in front of them the gateway serving the public REST API, the storefront and the back
# office (`serve --gateway`, `--storefront`, `--backoffice`, each reaching every module through its
# service); every module and each of those three on its own PostgreSQL database (127.0.0.1:5432,
# user postgres) and the events on RabbitMQ (127.0.0.1:5672, guest/guest, virtual host comptoir_topo).
#
#   bash scripts/topology.sh start     builds the binary if missing, prepares the databases and the
#                                      virtual host, starts the services, then the gateway, then the
#                                      storefront and the back office, waits until every /readyz
#                                      answers 200 and prints the gateway, storefront and back-office URLs
#   bash scripts/topology.sh status    each role's pid and readiness (exit 1 unless all are ready)
#   bash scripts/topology.sh stop      SIGTERM to each process, SIGKILL after 15 s
#
# Environment:
#   COMPTOIR_BIN     the binary (default: $CARGO_TARGET_DIR or ~/.cache/comptoir/target, /debug/comptoir;
#                    built with `cargo build -p comptoir` when missing)
#   GATEWAY_PORT     the gateway's port (8080)
#   STOREFRONT_PORT  the storefront's port (9000)
#   BACKOFFICE_PORT  the back office's port (9010)
#   LISTEN_HOST      where the services, the gateway and the web front-ends listen (127.0.0.1: the
#                    services trust the caller identity in gRPC metadata, so they must not be
#                    reachable from elsewhere)
#   TOPOLOGY_DIR     pids, logs, data directories and the generated configuration
#                    (~/.cache/comptoir/topology)
#   READY_TIMEOUT    seconds to wait for every /readyz (120)
#   RESET=1          drop and recreate the databases and the virtual host (and the secrets) first
#   DEMO=1           load the demo shop through the services once everything is up (its admin
#                    signs in to the back office)
#   DEMO_PRODUCTS    products in the demo catalog (300)
#   TOPOLOGY_NAME    names the databases (comptoir_<name>_<module>; comptoir_<name>_api, _storefront
#                    and _backoffice for the front roles) and the RabbitMQ virtual host (comptoir_<name>)
#                    (topo); another name keeps a second set apart, as the benchmark does
#   TOPOLOGY_ENV     extra COMPTOIR_* settings for every process, space-separated NAME=VALUE, e.g.
#                    "COMPTOIR_LOG__LEVEL=warn COMPTOIR_HTTP__RATE_LIMIT__PER_IP=0" (the caller's own
#                    COMPTOIR_* variables are not passed on)
set -euo pipefail
cd "$(dirname "$0")/.."

# In start order: each after the modules it calls.
MODULES=(identity catalog inventory cart payment billing shipping notification ordering admin search webhooks recommendations pos reporting audit)
declare -A PORTS=(
    [identity]=9001 [catalog]=9002 [inventory]=9003 [cart]=9004 [ordering]=9005
    [payment]=9006 [billing]=9007 [shipping]=9008 [admin]=9009 [notification]=9011 [search]=9012 [webhooks]=9013 [recommendations]=9014 [pos]=9015 [reporting]=9016 [audit]=9017
)
# The front roles, in start order after the services: each runs no module, has a database of its own
# (named after the role; the gateway's is `api`) and reaches every module through its service.
FRONTS=(gateway storefront backoffice)
WEB_ROLES=(storefront backoffice)

TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/comptoir/target}"
BIN="${COMPTOIR_BIN:-$TARGET_DIR/debug/comptoir}"
GATEWAY_PORT="${GATEWAY_PORT:-8080}"
STOREFRONT_PORT="${STOREFRONT_PORT:-9000}"
BACKOFFICE_PORT="${BACKOFFICE_PORT:-9010}"
LISTEN_HOST="${LISTEN_HOST:-127.0.0.1}"
TOPOLOGY_DIR="${TOPOLOGY_DIR:-$HOME/.cache/comptoir/topology}"
READY_TIMEOUT="${READY_TIMEOUT:-120}"
STOP_TIMEOUT=15
DEMO_PRODUCTS="${DEMO_PRODUCTS:-300}"

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
TOPOLOGY_NAME="${TOPOLOGY_NAME:-topo}"
[[ "$TOPOLOGY_NAME" =~ ^[a-z0-9_]+$ ]] || { echo "topology: error: TOPOLOGY_NAME must be lowercase letters, digits and _" >&2; exit 1; }
DB_PREFIX="comptoir_${TOPOLOGY_NAME}_"
VHOST="comptoir_$TOPOLOGY_NAME"
ENV_FILE="$TOPOLOGY_DIR/comptoir.env"
SECRETS_FILE="$TOPOLOGY_DIR/secrets.env"

say() { echo "topology: $*"; }
fail() {
    echo "topology: error: $*" >&2
    exit 1
}

# --- roles -------------------------------------------------------------------------------------

ROLES=("${MODULES[@]}" "${FRONTS[@]}")

role_port() {
    case "$1" in
        gateway) echo "$GATEWAY_PORT" ;;
        storefront) echo "$STOREFRONT_PORT" ;;
        backoffice) echo "$BACKOFFICE_PORT" ;;
        *) echo "${PORTS[$1]}" ;;
    esac
}

role_args() {
    case "$1" in
        gateway | storefront | backoffice) echo "serve --$1" ;;
        *) echo "serve --service $1" ;;
    esac
}

pid_file() { echo "$TOPOLOGY_DIR/run/$1.pid"; }
log_file() { echo "$TOPOLOGY_DIR/logs/$1.log"; }

# The pid of the role's process if it is alive (and still a comptoir process), else nothing.
role_pid() {
    local file pid
    file="$(pid_file "$1")"
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q comptoir; then
        echo "$pid"
    fi
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1
}

# The HTTP status of the role's /readyz ("000" when nothing answers).
readyz_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(role_port "$1")/readyz" || true
}

show_log_tail() {
    local log
    log="$(log_file "$1")"
    echo "---- last 40 lines of $log" >&2
    tail -n 40 "$log" >&2 2>/dev/null || echo "(no log)" >&2
    echo "----" >&2
}

# --- the binary --------------------------------------------------------------------------------

ensure_binary() {
    if [ -x "$BIN" ]; then
        return
    fi
    [ -z "${COMPTOIR_BIN:-}" ] || fail "COMPTOIR_BIN=$COMPTOIR_BIN is not an executable file"
    command -v cargo >/dev/null 2>&1 || fail "cargo is not installed and $BIN does not exist; install Rust from https://rustup.rs"
    say "building $BIN (cargo build -p comptoir)"
    CARGO_TARGET_DIR="$TARGET_DIR" cargo build -p comptoir
    [ -x "$BIN" ] || fail "the build did not produce $BIN"
}

# --- PostgreSQL ----------------------------------------------------------------------------------

psql_admin() {
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAtX -v ON_ERROR_STOP=1 "$@"
}

ensure_postgres() {
    command -v psql >/dev/null 2>&1 || fail "psql is not installed (apt-get install postgresql-client)"
    if ! pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null; then
        say "PostgreSQL does not answer on $PG_HOST:$PG_PORT; trying to start the local cluster"
        local cluster
        for cluster in /etc/postgresql/*/main; do
            [ -d "$cluster" ] || continue
            pg_ctlcluster --skip-systemctl-redirect "$(basename "$(dirname "$cluster")")" main start || true
        done
        for _ in $(seq 1 30); do pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null && break; sleep 1; done
    fi
    pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null ||
        fail "PostgreSQL does not answer on $PG_HOST:$PG_PORT (user $PG_USER, trust authentication)"
}

ensure_databases() {
    local name
    for name in "${MODULES[@]}" api "${WEB_ROLES[@]}"; do
        local db="$DB_PREFIX$name"
        if [ "${RESET:-0}" = 1 ]; then
            psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
        fi
        if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
            say "creating the database $db"
            psql_admin -c "CREATE DATABASE $db"
        fi
    done
}

# --- RabbitMQ ------------------------------------------------------------------------------------

ensure_rabbitmq() {
    port_open 5672 || fail "RabbitMQ does not answer on 127.0.0.1:5672 (start it: rabbitmq-server -detached)"
    command -v rabbitmqctl >/dev/null 2>&1 || fail "rabbitmqctl is not installed; it creates the virtual host $VHOST"
    if [ "${RESET:-0}" = 1 ]; then
        rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1 || true
    fi
    if ! rabbitmqctl -q list_vhosts name | grep -qx "$VHOST"; then
        say "creating the RabbitMQ virtual host $VHOST"
        rabbitmqctl -q add_vhost "$VHOST" >/dev/null
    fi
    rabbitmqctl -q set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null
}

# --- configuration ---------------------------------------------------------------------------------

random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# The secrets every process shares, generated once and kept (so that tokens survive a restart).
ensure_secrets() {
    if [ "${RESET:-0}" = 1 ] || [ ! -f "$SECRETS_FILE" ]; then
        (
            umask 077
            {
                echo "COMPTOIR_AUTH__JWT_SECRET=$(random)"
                echo "COMPTOIR_PAYMENT__WEBHOOK_SECRET=$(random)"
                echo "COMPTOIR_SHIPPING__WEBHOOK_SECRET=$(random)"
            } >"$SECRETS_FILE"
        )
    fi
}

# One environment for every role (like one configuration file): each process reads what its role
# needs — a service its own database, listen address and the URLs of the modules it calls; the
# gateway the `api` database and every URL; the storefront and the back office their own database
# (`storefront`, `backoffice`), their web.*_addr and every URL.
write_env_file() {
    local module upper role
    {
        echo "# Generated by scripts/topology.sh; \`set -a; . $ENV_FILE; set +a\` to run comptoir commands against the topology."
        cat "$SECRETS_FILE"
        echo "COMPTOIR_EVENTS__PROVIDER=rabbitmq"
        echo "COMPTOIR_EVENTS__RABBITMQ__URL=amqp://guest:guest@127.0.0.1:5672/$VHOST"
        echo "COMPTOIR_LOG__FORMAT=json"
        echo "COMPTOIR_HTTP__ADDR=$LISTEN_HOST:$GATEWAY_PORT"
        echo "COMPTOIR_DATABASES__API=postgres://$PG_USER@$PG_HOST:$PG_PORT/${DB_PREFIX}api"
        echo "COMPTOIR_WEB__STOREFRONT_ADDR=$LISTEN_HOST:$STOREFRONT_PORT"
        echo "COMPTOIR_WEB__BACKOFFICE_ADDR=$LISTEN_HOST:$BACKOFFICE_PORT"
        for role in "${WEB_ROLES[@]}"; do
            echo "COMPTOIR_DATABASES__${role^^}=postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB_PREFIX$role"
        done
        for module in "${MODULES[@]}"; do
            upper="${module^^}"
            echo "COMPTOIR_DATABASES__$upper=postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB_PREFIX$module"
            echo "COMPTOIR_SERVICES__${upper}__URL=http://127.0.0.1:${PORTS[$module]}"
            echo "COMPTOIR_SERVICES__${upper}__LISTEN=$LISTEN_HOST:${PORTS[$module]}"
        done
        # Last, so that they override the above.
        local setting
        for setting in ${TOPOLOGY_ENV:-}; do
            [[ "$setting" =~ ^COMPTOIR_[A-Z0-9_]+= ]] || fail "TOPOLOGY_ENV: \`$setting\` is not COMPTOIR_NAME=VALUE"
            echo "$setting"
        done
    } >"$ENV_FILE"
    chmod 600 "$ENV_FILE"
}

# Runs the binary with the topology's environment (and nothing of the caller's COMPTOIR_*).
comptoir_env() { # role command...
    local role="$1"
    shift
    (
        while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^COMPTOIR_' || true)
        set -a
        # shellcheck disable=SC1090
        . "$ENV_FILE"
        set +a
        export COMPTOIR_DATA_DIR="$TOPOLOGY_DIR/data/$role"
        exec "$@"
    )
}

# --- start ---------------------------------------------------------------------------------------

start_role() {
    local role="$1" log pidfile
    log="$(log_file "$role")"
    pidfile="$(pid_file "$role")"
    mkdir -p "$TOPOLOGY_DIR/data/$role"
    # The previous run's log is kept as <role>.log.1.
    if [ -f "$log" ]; then mv -f "$log" "$log.1"; fi
    echo "==== $(date -Is) starting: $BIN $(role_args "$role")" >"$log"
    # A session of its own, so that a Ctrl-C in the calling terminal does not reach it; the inner
    # shell writes its own pid, which `exec` hands to comptoir.
    local args
    read -ra args <<<"$(role_args "$role")"
    # shellcheck disable=SC2016 # expanded by the inner shell
    comptoir_env "$role" setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$BIN" "${args[@]}" \
        </dev/null >>"$log" 2>&1 &
    for _ in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
}

wait_ready() { # role
    local role="$1" deadline status
    deadline=$((SECONDS + READY_TIMEOUT))
    while true; do
        status="$(readyz_status "$role")"
        if [ "$status" = 200 ]; then
            say "$role ready on :$(role_port "$role")"
            return 0
        fi
        if [ -z "$(role_pid "$role")" ]; then
            echo "topology: error: the $role process exited before it was ready (log: $(log_file "$role"))" >&2
            show_log_tail "$role"
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "topology: error: $role is not ready after ${READY_TIMEOUT}s (/readyz: $status)" >&2
            curl -s --max-time 5 "http://127.0.0.1:$(role_port "$role")/readyz" >&2 || true
            echo >&2
            show_log_tail "$role"
            return 1
        fi
        sleep 0.5
    done
}

cmd_start() {
    mkdir -p "$TOPOLOGY_DIR/run" "$TOPOLOGY_DIR/logs" "$TOPOLOGY_DIR/data"
    local role running=() stopped=()
    for role in "${ROLES[@]}"; do
        if [ -n "$(role_pid "$role")" ]; then running+=("$role"); else stopped+=("$role"); fi
    done
    if [ "${#running[@]}" -gt 0 ]; then
        if [ "${#stopped[@]}" -eq 0 ] && [ "${RESET:-0}" != 1 ]; then
            say "already running"
            cmd_status
            return
        fi
        fail "already running: ${running[*]}; run \`bash scripts/topology.sh stop\` first"
    fi
    for role in "${ROLES[@]}"; do
        if port_open "$(role_port "$role")"; then
            fail "port $(role_port "$role") (the $role's) is already in use by another process"
        fi
    done

    ensure_binary
    ensure_postgres
    ensure_databases
    ensure_rabbitmq
    ensure_secrets
    write_env_file

    say "starting the services: ${MODULES[*]}"
    for role in "${MODULES[@]}"; do start_role "$role"; done
    for role in "${MODULES[@]}"; do
        wait_ready "$role" || { stop_all; fail "the $role service did not come up; everything was stopped"; }
    done
    say "starting the gateway"
    start_role gateway
    wait_ready gateway || { stop_all; fail "the gateway did not come up; everything was stopped"; }
    say "starting the storefront and the back office"
    for role in "${WEB_ROLES[@]}"; do start_role "$role"; done
    for role in "${WEB_ROLES[@]}"; do
        wait_ready "$role" || { stop_all; fail "the $role did not come up; everything was stopped"; }
    done

    if [ "${DEMO:-0}" = 1 ]; then
        # `comptoir demo` builds the monolith's App; with every services.<module>.url set, no module
        # runs in it: it loads the demo shop through the services, as the gateway would.
        say "loading the demo shop ($DEMO_PRODUCTS products) through the services"
        mkdir -p "$TOPOLOGY_DIR/data/demo"
        if ! comptoir_env demo "$BIN" demo --products "$DEMO_PRODUCTS" >"$TOPOLOGY_DIR/logs/demo.log" 2>&1; then
            show_log_tail demo
            fail "loading the demo shop failed (the topology is still running; log: $TOPOLOGY_DIR/logs/demo.log)"
        fi
        grep -v '^{' "$TOPOLOGY_DIR/logs/demo.log" || true
    fi

    echo
    say "Comptoir runs distributed: the gateway on http://127.0.0.1:$GATEWAY_PORT/api/v1" \
        "(OpenAPI: http://127.0.0.1:$GATEWAY_PORT/openapi.json)"
    say "the storefront on http://127.0.0.1:$STOREFRONT_PORT/, the back office on http://127.0.0.1:$BACKOFFICE_PORT/"
    if [ "${DEMO:-0}" = 1 ]; then
        say "sign in to the back office as the staff admin above, to the storefront as the demo customer"
    fi
    say "logs in $TOPOLOGY_DIR/logs; configuration in $ENV_FILE; stop with: bash scripts/topology.sh stop"
}

# --- stop ----------------------------------------------------------------------------------------

# SIGTERM to each role given, then waits for all of them; SIGKILL for any alive after 15 s.
stop_roles() {
    local role pid pids=() names=()
    for role in "$@"; do
        pid="$(role_pid "$role")"
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$role")
        fi
    done
    local deadline=$((SECONDS + STOP_TIMEOUT)) i
    for i in "${!pids[@]}"; do
        while kill -0 "${pids[$i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            say "${names[$i]} (pid ${pids[$i]}) still running after ${STOP_TIMEOUT}s; killing it"
            kill -KILL "${pids[$i]}" 2>/dev/null || true
        else
            say "${names[$i]} stopped"
        fi
        rm -f "$(pid_file "${names[$i]}")"
    done
}

# The front roles first (no new requests), then the services.
stop_all() {
    stop_roles "${FRONTS[@]}"
    stop_roles "${MODULES[@]}"
}

cmd_stop() {
    local role any=0
    for role in "${ROLES[@]}"; do
        if [ -n "$(role_pid "$role")" ]; then any=1; fi
    done
    if [ "$any" = 0 ]; then
        say "nothing is running"
        rm -f "$TOPOLOGY_DIR"/run/*.pid
        return
    fi
    stop_all
}

# --- status --------------------------------------------------------------------------------------

cmd_status() {
    local role pid status state all_ready=0
    printf '%-13s %-6s %-8s %s\n' ROLE PORT PID STATE
    for role in "${ROLES[@]}"; do
        pid="$(role_pid "$role")"
        if [ -z "$pid" ]; then
            state="not running"
            all_ready=1
        else
            status="$(readyz_status "$role")"
            case "$status" in
                200) state="ready" ;;
                000) state="running, /readyz does not answer"; all_ready=1 ;;
                *)
                    state="NOT READY ($status): $(curl -s --max-time 5 "http://127.0.0.1:$(role_port "$role")/readyz" |
                        tr -d '\n' | cut -c1-200)"
                    all_ready=1
                    ;;
            esac
        fi
        printf '%-13s %-6s %-8s %s\n' "$role" "$(role_port "$role")" "${pid:--}" "$state"
    done
    return "$all_ready"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 start | stop | status   (RESET=1, DEMO=1, GATEWAY_PORT, STOREFRONT_PORT, BACKOFFICE_PORT, TOPOLOGY_DIR, TOPOLOGY_NAME, TOPOLOGY_ENV, COMPTOIR_BIN)" >&2
        exit 2
        ;;
esac
