#!/bin/bash
# The same compose.yaml with Debian 12's Python docker-compose 1.29, as the README tells
# its users (`docker-compose` in place of `docker compose`), from the repository root:
# `config` accepts the file; `up -d` runs the one-shot `secrets` service first
# (service_completed_successfully), then the stack gets healthy and counts hashes;
# `up -d --scale worker=3` scales it; `down` removes every container.
# Uses the images compose-image built (1.29 would build the runtime image once per
# service). Everything runs under a project name of its own, removed by the EXIT trap.
# Usage: test_v1.sh [SRCDIR]
set -uo pipefail
source "$(dirname "$0")/lib.sh" "${1:-}"

need_engine
V1=${DC_COMPOSE_V1:-docker-compose}
command -v "$V1" >/dev/null || die "no $V1 here: apt-get install docker-compose (./run-tests does)"
COMPOSE=("$V1")
COMPOSE_VERSION=$("$V1" version --short 2>/dev/null || echo unknown)
case $COMPOSE_VERSION in 1.*) ;; *) die "$V1 is $COMPOSE_VERSION, not the Python 1.x this suite is about" ;; esac
export COMPOSE_PROJECT_NAME=dcv1t$$t$(date +%s)
export DC_WEBUI_PUBLISH=127.0.0.1:
unset DC_WORKERS DC_RNG_REPLICAS DC_HASHER_REPLICAS DC_DELAY_MS DC_RAW DC_BATCH DC_INSECURE

teardown() {
    local rc=$? left
    if [ "$rc" != 0 ] || [ "$tap_failed" != 0 ]; then
        mkdir -p "$src/tests/artifacts"
        "$V1" logs --no-color --timestamps >"$src/tests/artifacts/$COMPOSE_PROJECT_NAME.log" 2>&1
        log "logs: $src/tests/artifacts/$COMPOSE_PROJECT_NAME.log"
    fi
    "$V1" down --volumes --remove-orphans --timeout 3 >/dev/null 2>&1
    left=$(ids)
    [ -n "$left" ] && docker rm -f $left >/dev/null 2>&1
    docker network rm "${COMPOSE_PROJECT_NAME}_dockercoins" >/dev/null 2>&1
    left=$(volumes_of)
    [ -n "$left" ] && docker volume rm $left >/dev/null 2>&1
    if [ "$tap_failed" != 0 ] && [ "$rc" = 0 ]; then rc=1; fi
    log "$([ "$rc" = 0 ] && echo PASS || echo FAIL) ($COMPOSE_PROJECT_NAME, $V1 $COMPOSE_VERSION)"
    finish
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM
log "project $COMPOSE_PROJECT_NAME with $V1 $COMPOSE_VERSION"

for img in "${DC_IMAGE:-dockercoins:latest}" "${DC_REDIS_IMAGE:-dockercoins-redis:latest}"; do
    docker image inspect "$img" >/dev/null 2>&1 || build_images
done

if out=$("$V1" config -q 2>&1); then ok "$V1 config accepts compose.yaml"; else die "$V1 config: $out"; fi

t0=$SECONDS
out=$("$V1" up -d 2>&1) || die "$V1 up -d: $(tail -n 5 <<<"$out")"
wait_healthy 120 || die "stack healthy"
ok "$V1 up -d: healthy in $((SECONDS - t0)) s"
one_shot=$(ids secrets)
state=$(docker inspect -f '{{.State.Status}}/{{.State.ExitCode}}' "$one_shot" 2>&1)
[ "$state" = exited/0 ] && ok "the secrets one-shot ran first and exited 0" || not_ok "secrets one-shot: $state"
got=$(docker exec "$(ids worker | head -n1)" sh -c 'cd /run/secrets && find . -type f | sort | tr "\n" " "')
[ "$got" = "./dc/broker.cert ./dc/client.cert ./dc/client.cert_secret ./dc/dispatcher.cert " ] &&
    ok "a worker sees only its share: $got" || not_ok "a worker sees '$got'"
REDIS=$(ids redis)
wait_progress 10 60 && ok "hashes counted" || not_ok "no hashes counted within 60 s"

out=$("$V1" up -d --scale worker=3 2>&1) || not_ok "$V1 up -d --scale worker=3: $(tail -n 5 <<<"$out")"
wait_field dc:stats:worker workers 3 60 && ok "$V1 up -d --scale worker=3: 3 workers report" ||
    not_ok "3 workers not seen"

t0=$(date +%s%N)
"$V1" down >/dev/null 2>&1 || not_ok "$V1 down"
t1=$(date +%s%N)
[ -z "$(ids)" ] && ok "$V1 down removed every container in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }') s" ||
    not_ok "containers left after $V1 down"
exit 0
