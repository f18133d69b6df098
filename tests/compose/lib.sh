# Shared by the compose suite's scripts (sourced, not run).
# Talks to the stack only through the Docker CLI (docker exec for Redis, the published
# webui port on 127.0.0.1): nothing here addresses a container's IP.

src=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
# shellcheck source=tests/docker-lib.sh
source "$src/tests/docker-lib.sh"
# shellcheck source=tests/tap.sh
source "$src/tests/tap.sh"
cd "$src" || exit 1
PY=/usr/bin/python3

# Progress lines are TAP comments; results go through tests/tap.sh (ok, not_ok).
log() { printf '# %s %s\n' "$(date +%T)" "$*"; }
die() { not_ok "$*"; exit 1; }

# Skipped (TAP 1..0 # SKIP) only when no Docker engine answers.
need_engine() {
    docker info >/dev/null 2>&1 || skip_all "no Docker engine answers (docker info failed)"
}

# The Compose tool: DC_COMPOSE if set (e.g. "docker-compose"), else the `docker compose`
# plugin the README's commands use; without it the suite fails and says how to install it.
pick_compose() {
    if [ -n "${DC_COMPOSE:-}" ]; then
        read -r -a COMPOSE <<<"$DC_COMPOSE"
    elif docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    else
        die "no 'docker compose' here: run tools/install-compose --plugin (or ./run-tests, which does), or set DC_COMPOSE"
    fi
    COMPOSE_VERSION=$("${COMPOSE[@]}" version --short 2>/dev/null || echo unknown)
    COMPOSE_NAME=${COMPOSE[*]}
}

# Both images, tagged as compose.yaml names them (with the Docker CLI rather than
# `compose build`, which the Python docker-compose runs once per service).
build_images() {
    local t0=$SECONDS
    dc_build_images "$src" "${DC_IMAGE:-dockercoins:latest}" \
        "${DC_REDIS_IMAGE:-dockercoins-redis:latest}" || die "image build"
    log "images built in $((SECONDS - t0)) s"
}

# Containers of this project (optionally of one service), running or not.
ids() {
    local f=(--filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
    [ -n "${1:-}" ] && f+=(--filter "label=com.docker.compose.service=$1")
    docker ps -aq "${f[@]}"
}

# Volumes of this project.
volumes_of() {
    docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
}

health_of() {
    docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null
}

# Containers of the long-running services: all but the one-shot `secrets`.
service_ids() {
    local id
    for id in $(ids); do
        [ "$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id" 2>/dev/null)" = secrets ] ||
            echo "$id"
    done
}

# Waits until every container of the project but the one-shot is running and healthy.
wait_healthy() {
    local deadline=$((SECONDS + $1)) id all bad
    while :; do
        all=$(service_ids) bad=""
        for id in $all; do
            case $(health_of "$id") in
                running/healthy | running/none) ;;
                *) bad+=" $id" ;;
            esac
        done
        [ -n "$all" ] && [ -z "$bad" ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            for id in $bad; do
                log "  $(docker inspect -f '{{.Name}}' "$id"): $(health_of "$id")"
            done
            return 1
        fi
        sleep 1
    done
}

# redis-cli inside the redis container, authenticated with the stack's generated password
# (its Compose secret)
rcli() {
    docker exec "$REDIS" sh -c 'REDISCLI_AUTH=$(cat /run/secrets/redis_password) exec redis-cli "$@"' \
        rcli "$@"
}

# "counted ts_ms issued in_flight reissued duplicates hashes coins oldest_ms" of the
# dispatcher's latest snapshot (fields empty when the key is missing).
books() {
    rcli hmget dc:stats:dispatcher counted ts_ms issued in_flight reissued duplicates \
        hashes coins oldest_ms | tr '\n' ' '
}

# Waits until the dispatcher's count has grown by $1 within $2 seconds.
wait_progress() {
    local want=$1 deadline=$((SECONDS + $2)) c0 c
    c0=$(rcli hget dc:stats:dispatcher counted)
    c0=${c0:-0}
    while [ $SECONDS -lt $deadline ]; do
        c=$(rcli hget dc:stats:dispatcher counted 2>/dev/null)
        [ -n "$c" ] && [ "$c" -ge $((c0 + want)) ] && return 0
        sleep 1
    done
    return 1
}

# Waits until a Redis hash field reaches a value.
wait_field() {
    local key=$1 field=$2 want=$3 deadline=$((SECONDS + $4)) v
    while [ $SECONDS -lt $deadline ]; do
        v=$(rcli hget "$key" "$field" 2>/dev/null)
        [ "$v" = "$want" ] && return 0
        sleep 1
    done
    log "  $key $field = ${v:-missing}, wanted $want"
    return 1
}


# GET the webui's /json on its published loopback port; prints "hashes coins".
webui_json() {
    local port
    port=$(docker port "$(ids webui | head -n1)" 8000 | sed -n 's/^127\.0\.0\.1://p' | head -n1)
    [ -n "$port" ] || return 1
    "$PY" - "http://127.0.0.1:$port/json" <<'EOF'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    j = json.load(r)
print(int(j["hashes"]), int(j["coins"]))
EOF
}
