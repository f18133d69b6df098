#!/bin/bash
# The compose stack end to end, on the real Docker engine, driven by the commands the
# README gives, as written, from the repository root, with the `docker compose` plugin
# (tools/install-compose --plugin):
#
#   docker compose up -d
#   docker compose up -d --scale worker=10
#   docker compose up -d --scale worker=10 --scale rng=2
#   docker compose down
#
# What is set around them is only what makes a run private: COMPOSE_PROJECT_NAME (every
# container, network and volume is this run's own), DC_WEBUI_PUBLISH=127.0.0.1: (any free
# loopback port), image tags of this run's own (so the first `up` builds them through
# compose, from the layer cache compose-image filled) and, as the README says for a
# machine without a registry, DC_BASE_IMAGE=dockercoins/debian:bookworm.
#   1. a failed `up` (its base image missing) leaves nothing behind;
#   2. the first `up` builds, makes the keys (the one-shot `secrets` service) and gets
#      healthy; each container sees only its own share of the keys; a second `up` keeps
#      them; hashes and coins grow in Redis and on the webui's /json;
#   3. throughput follows the workshop model at each README step: 1 worker ~3.3/s,
#      10 workers ~10/s (rng-bound), 10 workers + 2 rng ~20/s;
#   4. faults: docker kill a worker, the rng, the broker; cut Redis off the network for
#      10 s; the rest of the stack recovers by itself and the dispatcher's books balance;
#   5. `down` is fast because every process exits promptly on SIGTERM: no container
#      needs SIGKILL and each exits within 1 s of it (+ the engine's own kill -> die time
#      for a process that exits at once, measured alongside); the whole down of the scaled
#      stack within 3 s or that floor + 2 s, of the default one within 3 s or the floor
#      + 1 s; it leaves only the key volumes and redis-data: the next `up` finds the books.
# The EXIT trap removes everything the run started, whatever fails.
# Usage: test_stack.sh [SRCDIR]
set -uo pipefail
source "$(dirname "$0")/lib.sh" "${1:-}"

need_engine
pick_compose
export COMPOSE_PROJECT_NAME=dctest$$t$(date +%s)
export DC_WEBUI_PUBLISH=127.0.0.1:   # any free loopback port: parallel runs never clash
export DC_BASE_IMAGE=${DC_BASE_IMAGE:-dockercoins/debian:bookworm}
unset DC_WORKERS DC_RNG_REPLICAS DC_HASHER_REPLICAS DC_DELAY_MS DC_RAW DC_BATCH DC_INSECURE
ARTIFACTS=${DC_ARTIFACTS:-$src/tests/artifacts}
# compose-image tagged the images it built as DC_IMAGE / DC_REDIS_IMAGE; this run's own
# tags make the first `up` build through compose (all cache hits), as a user's would.
SHARED_IMAGE=${DC_IMAGE:-dockercoins:latest} SHARED_REDIS_IMAGE=${DC_REDIS_IMAGE:-dockercoins-redis:latest}
export DC_IMAGE=dockercoins-$COMPOSE_PROJECT_NAME:latest DC_REDIS_IMAGE=dockercoins-redis-$COMPOSE_PROJECT_NAME:latest
downed=0
UP_LOG=$(mktemp "${TMPDIR:-/tmp}/dc-up.XXXXXX")

teardown() {
    local rc=$?
    rm -f "$UP_LOG"
    if [ "$downed" = 0 ]; then
        if [ "$rc" != 0 ] || [ "$tap_failed" != 0 ]; then
            mkdir -p "$ARTIFACTS"
            "${COMPOSE[@]}" logs --no-color --timestamps >"$ARTIFACTS/$COMPOSE_PROJECT_NAME.log" 2>&1
            log "logs: $ARTIFACTS/$COMPOSE_PROJECT_NAME.log"
        fi
        "${COMPOSE[@]}" down --remove-orphans --timeout 3 >/dev/null 2>&1
    fi
    # Whatever compose missed (a container started by hand, a half-made network), the key
    # volumes, which `down` keeps, and this run's image tags (the layers stay cached).
    local left
    left="$(ids) $(docker ps -aq --filter "name=${COMPOSE_PROJECT_NAME}-floor-")"
    [ -n "${left// /}" ] && docker rm -f $left >/dev/null 2>&1
    docker network rm "${COMPOSE_PROJECT_NAME}_dockercoins" >/dev/null 2>&1
    left=$(volumes_of)
    [ -n "$left" ] && docker volume rm $left >/dev/null 2>&1
    docker rmi "$DC_IMAGE" "$DC_REDIS_IMAGE" >/dev/null 2>&1
    if [ "$tap_failed" != 0 ] && [ "$rc" = 0 ]; then rc=1; fi
    log "$([ "$rc" = 0 ] && echo PASS || echo FAIL) ($COMPOSE_PROJECT_NAME, $COMPOSE_NAME $COMPOSE_VERSION)"
    finish
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

log "project $COMPOSE_PROJECT_NAME with $COMPOSE_NAME $COMPOSE_VERSION, from $src"
# The base image, and the layer cache the first `up` builds from.
DC_IMAGE=$SHARED_IMAGE DC_REDIS_IMAGE=$SHARED_REDIS_IMAGE build_images

# README: docker compose up -d (and the two --scale steps, and down), run as written.
up() { "${COMPOSE[@]}" up -d "$@" >"$UP_LOG" 2>&1; }

# --- 1. a failed up leaves nothing behind --------------------------------------------
# Here: the base image is missing (and no registry can supply it), so the build fails.
DC_BASE_IMAGE=dockercoins/missing-base:none up
rc=$?
left="$(ids) $(docker network ls -q --filter "name=${COMPOSE_PROJECT_NAME}_") $(volumes_of)"
if [ $rc != 0 ] && [ -z "${left// /}" ]; then
    ok "up with its base image missing failed (rc $rc) and left no container, network or volume"
else
    not_ok "failed up: rc $rc, left behind: '${left// /}'"
fi

# --- 2. up and healthy, the keys ----------------------------------------------------
t0=$SECONDS
up || { tail -n 20 "$UP_LOG" | diag; die "docker compose up -d"; }
log "first up (build through compose, keys, start) returned in $((SECONDS - t0)) s"
wait_healthy 120 || die "stack healthy"
ok "stack up and healthy in $((SECONDS - t0)) s"
REDIS=$(ids redis)

# The one-shot made the keys and exited 0; everything else waited for it.
one_shot=$(ids secrets)
if [ -n "$one_shot" ] && [ "$(docker inspect -f '{{.State.Status}}/{{.State.ExitCode}}' "$one_shot")" = exited/0 ] &&
    docker logs "$one_shot" 2>&1 | grep -q 'made new CURVE keys'; then
    ok "secrets: the one-shot made the keys and exited 0"
else
    not_ok "secrets one-shot: $(docker inspect -f '{{.State.Status}}/{{.State.ExitCode}}' "$one_shot" 2>&1), $(docker logs "$one_shot" 2>&1 | tail -n 2)"
fi

# Least privilege: the files under /run/secrets in one container of each service.
secrets_of() {
    docker exec "$(ids "$1" | head -n1)" sh -c 'cd /run/secrets 2>/dev/null && find . -type f | sort | tr "\n" " "'
}
want_secrets() { # service files...
    local svc=$1 got want
    shift
    got=$(secrets_of "$svc")
    want="$(printf './%s ' "$@")"
    if [ "$got" = "$want" ]; then ok "$svc sees only: ${got:-nothing}"; else not_ok "$svc sees '$got', wanted '$want'"; fi
}
want_secrets redis redis_password
want_secrets broker dc/authorized/client.cert dc/broker.cert dc/broker.cert_secret redis_password
want_secrets dispatcher dc/authorized/client.cert dc/dispatcher.cert dc/dispatcher.cert_secret redis_password
for svc in rng hasher worker; do
    want_secrets $svc dc/broker.cert dc/client.cert dc/client.cert_secret dc/dispatcher.cert
done
want_secrets webui redis_password
if docker exec "$(ids worker | head -n1)" sh -c 'echo x >/run/secrets/dc/x' 2>/dev/null; then
    not_ok "a worker can write to its keys"
else
    ok "keys are read-only in the services"
fi
key_of() { docker exec "$(ids "$1" | head -n1)" cat "/run/secrets/$2"; }
pw0=$(key_of webui redis_password)
pub0=$(key_of worker dc/broker.cert)
[ "$(key_of broker dc/broker.cert)" = "$pub0" ] && [ "$(key_of broker redis_password)" = "$pw0" ] &&
    ok "the shares match (the broker's public key and the password in every volume)" ||
    not_ok "the shares of the keys do not match"

# --- 2. hashes and coins grow, in Redis and on /json --------------------------------
wait_progress 3 30 || die "hashes counted"
read -r h0 c0 <<<"$(webui_json)" || die "webui /json"
wait_progress 10 30 || die "more hashes counted"
deadline=$((SECONDS + 30))
while :; do
    read -r h1 c1 <<<"$(webui_json)"
    [ "${h1:-0}" -gt "$h0" ] && [ "${c1:-0}" -gt "$c0" ] && break
    [ $SECONDS -ge $deadline ] && break
    sleep 1
done
if [ "${h1:-0}" -gt "$h0" ] && [ "${c1:-0}" -gt "$c0" ]; then
    ok "/json grows: hashes $h0 -> $h1, coins $c0 -> $c1"
else
    not_ok "/json: hashes $h0 -> ${h1:-?}, coins $c0 -> ${c1:-?}"
fi
rh=$(rcli get hashes) rc_=$(rcli hlen wallet)
if [ "${rh:-0}" -ge "$h1" ] && [ "${rc_:-0}" -ge "$c1" ]; then
    ok "Redis: hashes $rh, wallet $rc_ coins"
else
    not_ok "Redis: hashes ${rh:-?} wallet ${rc_:-?} behind /json $h1 $c1"
fi

# --- 3. the workshop curve, one README step at a time --------------------------------
# The model is an upper bound: a worker loop is 100 ms of its own sleep plus an rng and a
# hasher call of 100 ms each, so 1 worker makes at most 3.33 hashes/s; an rng serves one
# request at a time, so each caps the stack at 10/s; one hasher serves 20 at once (like
# the original's threaded Thin), so it is no ceiling here. Everything real (ZeroMQ hops
# through the broker, container networking, timer slack) only lowers it. So the band is
# tight above (+5 %: two snapshot timestamps and jitter) and wide below (-30 %: this
# 2-core machine also runs 10+ containers, their health probes and whatever else CI
# does, and each rng call's hops wait for a CPU while the rng's one slot waits for them:
# with a busy loop on each core and builds beside it, load average 20-25, the 20/s step
# measured 14.8 and 18.6 in two runs, the 10/s step 8.4). The bands of the steps still do
# not overlap. The window is long enough that one hash is < 2 % of it.
WINDOW=${DC_RATE_WINDOW_S:-15}
measure() { # label workers rng expected name -- the README's up command
    local label=$1 w=$2 r=$3 want=$4 name=$5 rate lo hi detail
    shift 6
    up "$@" || { not_ok "$label: docker compose up -d $*: $(tail -n 3 "$UP_LOG")"; return; }
    wait_field dc:stats:worker workers "$w" 60 &&
        wait_field dc:stats:rng instances "$r" 30 || { not_ok "$label: replicas seen"; return; }
    # the new regime runs (each worker has finished a loop in it, on average) before the
    # window opens
    wait_progress "$w" 30 || { not_ok "$label: no progress after scaling"; return; }
    rate=$(rate_over "$WINDOW")
    lo=$(awk -v x="$want" 'BEGIN { printf "%.2f", x * 0.70 }')
    hi=$(awk -v x="$want" 'BEGIN { printf "%.2f", x * 1.05 }')
    detail="rng busy $(rcli hget dc:stats:rng busy_pct)% queue $(rcli hget dc:stats:rng queue),"
    detail+=" hasher busy $(rcli hget dc:stats:hasher busy_pct)% queue $(rcli hget dc:stats:hasher queue)"
    if between "$rate" "$lo" "$hi"; then
        ok "$label (up -d $*): $rate hashes/s (model $want, band $lo..$hi; $detail)"
    else
        not_ok "$label (up -d $*): $rate hashes/s outside $lo..$hi (model $want; $detail)"
    fi
    eval "RATE_$name=$rate"
}
#       label              workers rng model name    -- the README's command
measure "workers=1"              1  1  3.33  w1   -- # the first `up -d`, still running
measure "workers=10"            10  1  10    w10  -- --scale worker=10
[ "$(key_of webui redis_password)" = "$pw0" ] && [ "$(key_of worker dc/broker.cert)" = "$pub0" ] &&
    ok "a second up kept the keys" || not_ok "a second up changed the keys"
measure "workers=10 rng=2"      10  2  20    r2   -- --scale worker=10 --scale rng=2
log "scaling table: workers=1 ${RATE_w1:-?}/s | workers=10 ${RATE_w10:-?}/s | workers=10 rng=2 ${RATE_r2:-?}/s"

# --- 4. faults ----------------------------------------------------------------------
up --scale worker=10 || die "scale back to one rng"
wait_field dc:stats:rng instances 1 30 || not_ok "rng scaled back to 1"
read -r -a b0 <<<"$(books)"

victim=$(ids worker | head -n1)
docker kill "$victim" >/dev/null || die "docker kill worker"
if wait_progress 20 30; then ok "worker killed: the other 9 carry on"; else not_ok "worker killed: no progress"; fi
docker start "$victim" >/dev/null

# Docker treats `docker kill` as a deliberate stop and does not apply the restart policy,
# so the test plays the orchestrator and starts the container again after an outage;
# what is checked is that everything else reconnects without being touched.
outage() { # service seconds
    local id
    id=$(ids "$1" | head -n1)
    docker kill "$id" >/dev/null || { not_ok "docker kill $1"; return; }
    sleep "$2" # the outage itself
    docker start "$id" >/dev/null || { not_ok "docker start $1"; return; }
    local t=$SECONDS
    if wait_progress 20 60; then
        ok "$1 killed for $2 s: 20 more hashes $((SECONDS - t)) s after it was back"
    else
        not_ok "$1 killed: no progress within 60 s of its return"
    fi
}
outage rng 3
outage broker 3

# A crash, unlike `docker kill`, is what the restart policy is for: SIGKILL the rng's
# process from the host (the engine is local here) and Docker alone brings it back.
rng=$(ids rng | head -n1)
pid=$(docker inspect -f '{{.State.Pid}}' "$rng")
restarts=$(docker inspect -f '{{.RestartCount}}' "$rng")
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null; then
    t=$SECONDS
    deadline=$((SECONDS + 30))
    until [ "$(docker inspect -f '{{.RestartCount}}' "$rng")" -gt "$restarts" ] || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
    if [ "$(docker inspect -f '{{.RestartCount}}' "$rng")" -gt "$restarts" ] && wait_progress 20 60; then
        ok "rng crashed (SIGKILL from the host): restarted by its policy, 20 more hashes $((SECONDS - t)) s later"
    else
        not_ok "rng crash: not restarted by the restart policy, or no progress"
    fi
else
    log "skip - rng crash: the engine's processes are not visible from here"
fi

net="${COMPOSE_PROJECT_NAME}_dockercoins"
hashes_before=$(rcli get hashes)
docker network disconnect "$net" "$REDIS" || not_ok "network disconnect redis"
sleep 10 # the outage itself
docker network connect --alias redis "$net" "$REDIS" || not_ok "network connect redis"
t=$SECONDS
if wait_progress 20 60; then
    ok "redis cut off for 10 s: counting resumed $((SECONDS - t)) s after"
else
    not_ok "redis cut off: no progress within 60 s"
fi
hashes_after=$(rcli get hashes)
[ "${hashes_after:-0}" -gt "${hashes_before:-0}" ] && ok "hashes in Redis $hashes_before -> $hashes_after" \
    || not_ok "hashes in Redis did not grow after the outage ($hashes_before -> $hashes_after)"
wait_healthy 60 || not_ok "stack healthy again after the faults"

# The books: issued = counted + in flight in every snapshot, nothing stuck longer than a
# re-issue period, and at the end Redis holds exactly what the dispatcher counted.
read -r -a b1 <<<"$(books)"
if [ "${b1[2]}" = $((b1[0] + b1[3])) ]; then
    ok "books: issued ${b1[2]} = counted ${b1[0]} + in flight ${b1[3]} (re-issued $((b1[4] - b0[4])) and $((b1[5] - b0[5])) duplicates during the faults)"
else
    not_ok "books: issued ${b1[2]} != counted ${b1[0]} + in flight ${b1[3]}"
fi
if [ "${b1[8]:-99999}" -lt 25000 ]; then ok "oldest job in flight ${b1[8]} ms"; else not_ok "a job in flight for ${b1[8]:-?} ms"; fi

disp=$(ids dispatcher)
"${COMPOSE[@]}" stop --timeout 3 worker >/dev/null 2>&1
docker stop -t 3 "$disp" >/dev/null
final=$(docker logs "$disp" 2>&1 | grep 'books: issued' | tail -n1)
read -r fi_ fc ff fh fco <<<"$(sed -E 's/.*issued ([0-9]+) = counted ([0-9]+) \+ in flight ([0-9]+) \(([0-9]+) hashes, ([0-9]+) coins.*/\1 \2 \3 \4 \5/' <<<"$final")"
rh=$(rcli get hashes) rw=$(rcli hlen wallet)
if [ -n "${fh:-}" ] && [ "$rh" = "$fh" ] && [ "$rw" = "$fco" ] && [ "$fi_" = $((fc + ff)) ]; then
    ok "final books: issued $fi_ = counted $fc + in flight $ff; Redis has all $fh hashes and $fco coins"
else
    not_ok "final books '${final:-none}' vs Redis hashes $rh wallet $rw"
fi
docker start "$disp" >/dev/null
up --scale worker=10 || not_ok "up --scale worker=10 after the faults"
wait_healthy 90 || not_ok "stack healthy before down"

# --- 5. down ------------------------------------------------------------------------
if [ "$tap_failed" != 0 ]; then # keep the evidence before down removes it
    mkdir -p "$ARTIFACTS"
    "${COMPOSE[@]}" logs --no-color --timestamps >"$ARTIFACTS/$COMPOSE_PROJECT_NAME.log" 2>&1
    log "logs: $ARTIFACTS/$COMPOSE_PROJECT_NAME.log"
fi
# Stopping containers costs the engine itself: here (fuse-overlayfs, 2 cores) 14 idle
# containers take 2.5-3 s to stop together, whatever runs in them, and on a busy machine
# the engine's own kill -> die of a process that exits at once took 3 s. So the floor is
# measured in the same run, with containers of the same image on the same network whose
# process exits at once on SIGTERM, as many as down's first tier stops in parallel.

# stop_gaps EVENTS: "slowest-gap name sigkilled" from docker events lines "TimeNano Action
# name signal": each container's kill -> die gap, and how many were sent SIGKILL.
stop_gaps() {
    awk '
        $2 == "kill" && $4 == 9 { k9[$3] = 1 }
        $2 == "kill" && !($3 in k) { k[$3] = $1 }
        $2 == "die" && ($3 in k) { d = ($1 - k[$3]) / 1e9; if (d > m) { m = d; w = $3 } }
        END { n9 = 0; for (c in k9) n9++; printf "%.2f %s %d\n", m, w ? w : "-", n9 }' "$1"
}

# events_between T0 T1 FILTERS...: kill and die events from T0 to T1 (date +%s%N), replayed
# from the engine's log, one "TimeNano Action name signal" line each.
events_between() {
    local t0=$1 t1=$2
    shift 2
    docker events "$@" --filter event=kill --filter event=die \
        --since "$(awk -v a="$t0" 'BEGIN { printf "%.3f", a / 1e9 - 1 }')" \
        --until "$(awk -v b="$t1" 'BEGIN { printf "%.3f", b / 1e9 + 0.001 }')" \
        --format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.signal}}'
}

# engine_floor COUNT: `docker stop` of that many trivial containers. Sets FLOOR_S (seconds
# for all of them) and FLOOR_GAP (the slowest one's kill -> die, from the engine's events).
engine_floor() {
    local n=$1 names=() filters=() i t0 t1 deadline events=${TMPDIR:-/tmp}/$COMPOSE_PROJECT_NAME.floor
    for i in $(seq 1 "$n"); do
        names+=("${COMPOSE_PROJECT_NAME}-floor-$i")
        filters+=(--filter "container=${names[-1]}")
        docker run -d --name "${names[-1]}" --network "${COMPOSE_PROJECT_NAME}_dockercoins" \
            --read-only --cap-drop ALL --entrypoint bash "${DC_IMAGE:-dockercoins:latest}" \
            -c 'trap "exit 0" TERM; echo ready; while :; do sleep 0.05; done' >/dev/null
    done
    # each has set its trap (a SIGTERM before that is ignored by PID 1: the engine would
    # wait its 10 s and SIGKILL, and the floor would say 10 s)
    deadline=$((SECONDS + 30))
    for i in "${names[@]}"; do
        until [ "$(docker logs "$i" 2>/dev/null)" = ready ] || [ $SECONDS -ge $deadline ]; do
            sleep 0.2
        done
    done
    t0=$(date +%s%N)
    docker stop -t 10 "${names[@]}" >/dev/null
    t1=$(date +%s%N)
    events_between "$t0" "$t1" "${filters[@]}" >"$events"
    docker rm -f "${names[@]}" >/dev/null
    FLOOR_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    local killed
    read -r FLOOR_GAP _ killed <<<"$(stop_gaps "$events")"
    rm -f "$events"
    if [ "${killed:-1}" != 0 ]; then # not a process that exits at once: no allowance
        log "engine floor: ${killed:-?} trivial containers needed SIGKILL; no allowance taken"
        FLOOR_GAP=0
    fi
}

# Times `down`; docker events give each container's kill -> die gap and show whether any
# container had to be SIGKILLed after its grace period. Each of our processes exits within
# 1 s of SIGTERM: a gap within 1 s + the engine's own FLOOR_GAP passes. Sets DOWN_S,
# DOWN_N, DOWN_WORST, DOWN_WORST_NAME, DOWN_KILLED.
timed_down() {
    local events=${TMPDIR:-/tmp}/$COMPOSE_PROJECT_NAME.events t0 t1 limit
    limit=$(awk -v g="${FLOOR_GAP:-0}" 'BEGIN { printf "%.2f", 1 + g }')
    DOWN_N=$(ids | wc -l)
    t0=$(date +%s%N)
    "${COMPOSE[@]}" down >/dev/null 2>&1
    t1=$(date +%s%N)
    events_between "$t0" "$t1" --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" >"$events"
    DOWN_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    read -r DOWN_WORST DOWN_WORST_NAME DOWN_KILLED <<<"$(stop_gaps "$events")"
    rm -f "$events"
    local within="within $limit s (1 s + the engine's own ${FLOOR_GAP:-0} s for a process that exits at once)"
    if [ "${DOWN_KILLED:-1}" = 0 ] && between "$DOWN_WORST" 0 "$limit"; then
        ok "no container needed SIGKILL; slowest SIGTERM -> exit: $DOWN_WORST s ($DOWN_WORST_NAME), $within"
    elif [ "${DOWN_KILLED:-1}" = 0 ]; then
        not_ok "slowest SIGTERM -> exit: $DOWN_WORST s ($DOWN_WORST_NAME), not $within"
    else
        not_ok "$DOWN_KILLED containers ignored SIGTERM until SIGKILL; slowest $DOWN_WORST s ($DOWN_WORST_NAME)"
    fi
}

# (a) The scaled stack (10 workers): down has two tiers, first 14 containers (workers,
# rng, hasher, dispatcher, webui) at once, then the broker and Redis. Each of our
# processes exits within 1 s of SIGTERM (checked from the engine's events); the
# whole down may take 3 s, or the engine's own floor for the first tier + 2 s: 1 s for
# our processes per tier, the network and compose's own start fitting in that on an
# idle machine (floor ~1.2 s, down ~2.3 s) and a busy one (floor 1.65 s, down 3.35 s).
tier1=$(( $(service_ids | wc -l) - 2 ))
engine_floor "$tier1"
floor=$FLOOR_S
rh_down=$(rcli get hashes) rc_down=$(rcli hlen wallet)
timed_down
downed=1
# check_down WHAT LIMIT WHY: DOWN_S within LIMIT seconds (the Python v1 is slow on its
# own: it gets DC_DOWN_LIMIT_S or 15 s), and nothing of the project left.
check_down() {
    local limit=$2
    case $COMPOSE_VERSION in 1.*) limit=${DC_DOWN_LIMIT_S:-15} ;; esac
    if between "$DOWN_S" 0 "$limit"; then
        ok "down of $1 ($DOWN_N containers) took $DOWN_S s (limit $limit s: $3)"
    else
        not_ok "down of $1 ($DOWN_N containers) took $DOWN_S s (limit $limit s: $3)"
    fi
    [ -z "$(ids)" ] || not_ok "containers left after down of $1"
}
check_down "the scaled stack" "$(awk -v f="$floor" 'BEGIN { l = f + 2.0; printf "%.2f", l < 3 ? 3 : l }')" \
    "3 s, or the engine's own $floor s for $tier1 idle containers + 2 s"

# down keeps the key volumes, so the next up uses the same keys, and Redis's data.
n=$(volumes_of | wc -l)
[ "$n" = 5 ] && ok "down kept the 4 key volumes and redis-data" ||
    not_ok "after down: $n volumes, wanted the 4 key volumes and redis-data"

# (b) The stack as `up` starts it (1 worker): down must take under 3 s.
downed=0
up || die "docker compose up -d again"
wait_healthy 120 || die "stack healthy again"
# Redis reloaded its append-only file from redis-data: the books from before down are there
REDIS=$(ids redis)
rh_up=$(rcli get hashes) rc_up=$(rcli hlen wallet)
if [ "${rh_up:-0}" -ge "${rh_down:-1}" ] && [ "${rc_up:-0}" -ge "${rc_down:-1}" ] && [ "${rh_down:-0}" -gt 0 ]; then
    ok "up after down: Redis kept the books (hashes $rh_down -> $rh_up, wallet $rc_down -> $rc_up)"
else
    not_ok "up after down: Redis lost the books (hashes ${rh_down:-?} -> ${rh_up:-?}, wallet ${rc_down:-?} -> ${rc_up:-?})"
fi
[ "$(key_of webui redis_password)" = "$pw0" ] && [ "$(key_of worker dc/broker.cert)" = "$pub0" ] &&
    ok "up after down: the same keys" || not_ok "up after down made new keys"
# 3 s as promised, unless the engine itself needs more than 2 s to stop as many idle
# containers right now (a busy machine: 3.10 s was seen with other builds running).
tier1=$(( $(service_ids | wc -l) - 2 ))
engine_floor "$tier1"
floor=$FLOOR_S
timed_down
downed=1
check_down "the default stack" "${DC_DOWN_LIMIT_S:-$(awk -v f="$floor" 'BEGIN { l = f + 1.0; printf "%.2f", l < 3 ? 3 : l }')}" \
    "the promised 3 s, or the engine's own $floor s for $tier1 idle containers + 1 s"
exit 0
