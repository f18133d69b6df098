# shellcheck shell=bash
# Helpers for the suites that run the stack on the Docker engine (tests/compose).
# Sourced; defines functions only.

# dc_build_images SRC IMAGE REDIS_IMAGE: the base image when missing, then the runtime and
# Redis images from SRC's Dockerfile, built with the Docker CLI once per image. Quiet;
# non-zero on failure.
dc_build_images() {
    local src=$1 image=$2 redis_image=$3 base=${DC_BASE_IMAGE:-dockercoins/debian:bookworm}
    (cd "$src" && compose/make-base-image &&
        docker build -q --force-rm --build-arg BASE_IMAGE="$base" --target redis \
            -t "$redis_image" . >/dev/null &&
        docker build -q --force-rm --build-arg BASE_IMAGE="$base" -t "$image" . >/dev/null)
}

# Hashes per second over a window, from two dispatcher snapshots: counts divided by the
# snapshots' own timestamps, so when the snapshot was written does not matter. Needs the
# caller's books(), printing "counted ts_ms ..." of the latest snapshot.
rate_over() {
    local a b
    read -r -a a <<<"$(books)"
    sleep "$1" # the measuring window, not a wait for anything
    read -r -a b <<<"$(books)"
    awk -v c0="${a[0]:-0}" -v t0="${a[1]:-0}" -v c1="${b[0]:-0}" -v t1="${b[1]:-0}" \
        'BEGIN { if (t1 <= t0) print "nan"; else printf "%.2f\n", (c1 - c0) * 1000 / (t1 - t0) }'
}

# in [lo, hi]?
between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x == x + 0 && x >= lo && x <= hi) }'; }
