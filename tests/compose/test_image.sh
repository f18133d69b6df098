#!/bin/bash
# The images on their own: the base image is made when missing, both targets
# build (a second build with nothing changed is all cache hits), the runtime image runs
# every role as a non-root user with only runtime libraries, and its health probe
# answers. Prints the image sizes. Usage: test_image.sh [SRCDIR]
set -uo pipefail
source "$(dirname "$0")/lib.sh" "${1:-}"
need_engine
trap '[ -n "${probe:-}" ] && docker rm -f "$probe" >/dev/null 2>&1; finish || exit 1' EXIT

build_images
ok "base, redis and runtime images built"
image=${DC_IMAGE:-dockercoins:latest}

t0=$(date +%s%N)
docker build -q --force-rm --build-arg BASE_IMAGE="${DC_BASE_IMAGE:-dockercoins/debian:bookworm}" \
    -t "$image" . >/dev/null || not_ok "rebuild"
t1=$(date +%s%N)
rebuild=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
if between "$rebuild" 0 30; then ok "rebuild with nothing changed: $rebuild s (cache)"; else not_ok "rebuild took $rebuild s"; fi

user=$(docker run --rm "$image" id -u)
# (a uid, and not 0: a container that did not run says nothing about its user)
if [[ $user =~ ^[0-9]+$ ]] && [ "$user" != 0 ]; then ok "runs as uid $user"; else not_ok "runs as '$user'"; fi

for b in dc-broker dc-rng dc-hasher dc-dispatcher dc-worker dc-webui dc-keygen dc-audit dc-compose-secrets; do
    if docker run --rm "$image" "$b" --help >/dev/null 2>&1; then ok "$b --help"; else not_ok "$b --help"; fi
done

# No compiler, no headers: the build stage stays behind. (The container must have run and
# looked: an empty answer from one that did not start proves nothing.)
if leaked=$(docker run --rm "$image" sh -c \
    'for f in /usr/bin/gcc /usr/bin/meson /usr/include/czmq.h; do [ ! -e "$f" ] || echo "$f"; done'); then
    [ -z "$leaked" ] && ok "no build tools in the runtime image" || not_ok "build tools leaked: $leaked"
else
    not_ok "could not look for build tools in the runtime image"
fi

# The HEALTHCHECK against a live role: the broker is ready once it listens.
probe=$(docker run -d "$image" dc-broker --insecure --redis "") || not_ok "start a broker"
deadline=$((SECONDS + 30))
until docker exec "$probe" dc-healthcheck >/dev/null 2>&1 || [ $SECONDS -ge $deadline ]; do sleep 1; done
if docker exec "$probe" dc-healthcheck >/dev/null 2>&1; then ok "dc-healthcheck passes on a running broker"; else not_ok "dc-healthcheck on a running broker"; fi
t0=$(date +%s%N)
docker stop -t 5 "$probe" >/dev/null
t1=$(date +%s%N)
stop_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
code=$(docker inspect -f '{{.State.ExitCode}}' "$probe")
if [ "$code" = 0 ] && between "$stop_s" 0 2; then ok "broker stops on SIGTERM in $stop_s s, exit 0"; else not_ok "broker stop: $stop_s s, exit $code"; fi
if docker run --rm -e DC_HTTP= "$image" dc-healthcheck; then ok "no listener configured: healthy"; else not_ok "DC_HTTP empty"; fi

size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }
log "sizes: runtime $(size "$image"), redis $(size "${DC_REDIS_IMAGE:-dockercoins-redis:latest}"), base $(size "${DC_BASE_IMAGE:-dockercoins/debian:bookworm}")"
exit 0
