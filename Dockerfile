# dockercoins: one image for every role (the command picks it: dc-broker, dc-rng,
# dc-hasher, dc-dispatcher, dc-worker, dc-webui, dc-keygen, the batch job dc-audit),
# plus a small Redis image built from the same Debian 12 base (target "redis").
#
#   docker build -t dockercoins .                          # FROM debian:bookworm-slim
#   compose/make-base-image                                # where no registry is reachable:
#   docker build --build-arg BASE_IMAGE=dockercoins/debian:bookworm -t dockercoins .
#
# Only classic-builder syntax is used (no RUN --mount, no # syntax= line): the engine on
# our CI machine has no BuildKit client, and a registry-less machine could not fetch a
# Dockerfile frontend anyway. Caching therefore comes from layer order: the apt layers
# depend on nothing from the source tree, so a rebuild after a source change only
# recompiles, and a rebuild with nothing changed is all cache hits.
ARG BASE_IMAGE=debian:bookworm-slim

# --- redis: Debian's redis-server, nothing persisted (the counters are a demo's) -------
FROM ${BASE_IMAGE} AS redis
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
USER redis
WORKDIR /var/lib/redis
EXPOSE 6379
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["sh", "-c", "[ \"$(timeout 2 redis-cli ping)\" = PONG ]"]
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", \
     "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--loglevel", "warning"]

# --- build: compilers and -dev packages; nothing of this reaches the runtime image -----
FROM ${BASE_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        gcc libc6-dev meson ninja-build pkg-config \
        libczmq-dev libzmq3-dev libsodium-dev nettle-dev libhiredis-dev libcivetweb-dev \
        libjs-chart.js python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
WORKDIR /src
COPY . .
# Tests are not part of the image (.dockerignore leaves tests/ out, so editing a test
# does not recompile): an empty tests/meson.build satisfies the root's subdir('tests').
# Binaries the meson files do not mark for installation are copied from the build tree.
RUN mkdir -p tests && echo "# tests are not built into the image" > tests/meson.build \
 && meson setup /build --prefix=/usr/local \
 && ninja -C /build \
 && meson install -C /build --destdir /out --no-rebuild --strip --quiet \
 && mkdir -p /out/usr/local/bin \
 && for f in /build/*/dc-*; do \
        if [ -f "$f" ] && [ -x "$f" ] && [ ! -e "/out/usr/local/bin/${f##*/}" ]; then \
            install -s -m 0755 "$f" /out/usr/local/bin/; \
        fi; \
    done \
 && for b in dc-broker dc-rng dc-hasher dc-dispatcher dc-worker dc-webui dc-keygen dc-audit; do \
        [ -x "/out/usr/local/bin/$b" ] || { echo "Dockerfile: $b was not built" >&2; exit 1; }; \
    done

# --- runtime: shared libraries, the binaries, a non-root user --------------------------
FROM ${BASE_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libczmq4 libzmq5 libsodium23 libnettle8 libhiredis0.14 libcivetweb1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin dc
COPY compose/dc-healthcheck compose/dc-compose-secrets /usr/local/bin/
COPY --from=build /out/ /
# Every role serves /healthz, /readyz and /metrics here (docs/runtime.md: containers
# use 9100); the HEALTHCHECK asks /readyz on it. DC_HTTP= turns both off.
ENV DC_HTTP=9100
USER 10001:10001
EXPOSE 5555 5556 5557 8000 9100
# The binaries handle SIGTERM themselves (they run as PID 1 without an init).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["dc-healthcheck"]
CMD ["dc-worker"]
