# syntax=docker/dockerfile:1
# keepsake container: the agent plus pg_dump, pg_restore and psql of every
# PostgreSQL major from 14 to 18; the seed tool's environment variables work
# unchanged.
#   docker build -t keepsake .
#   docker run --env-file config/env-only.env keepsake          # the agent
#   docker run --env-file config/env-only.env keepsake backup   # one backup now
# See README.md, "Installation".

# ---------------------------------------------------------------- build
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cache mounts keep the registry and target/ between builds; the binary is
# copied out of the cache mount so that the next stage can see it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -m 0755 target/release/keepsake /usr/local/bin/keepsake

# ---------------------------------------------------------------- clients
# pg_dump must be at least as new as the server, and keepsake picks the
# oldest installed one that is. The official images carry the PostgreSQL
# project's own builds for Debian bookworm (the runtime's release), for
# amd64 and arm64. Each is pinned to a minor release: bump them together.
FROM postgres:14.22-bookworm AS pg14
FROM postgres:15.17-bookworm AS pg15
FROM postgres:16.13-bookworm AS pg16
FROM postgres:17.9-bookworm AS pg17

# Gather everything the runtime needs from the images in /out, laid out as in
# the final file system. Only the three client programs keepsake runs are
# taken: not Debian's pg_wrapper, which pulls in Perl.
FROM postgres:18.3-bookworm AS clients
COPY --from=pg14 /usr/lib/postgresql/14/bin/pg_dump /usr/lib/postgresql/14/bin/pg_restore /usr/lib/postgresql/14/bin/psql /out/usr/lib/postgresql/14/bin/
COPY --from=pg15 /usr/lib/postgresql/15/bin/pg_dump /usr/lib/postgresql/15/bin/pg_restore /usr/lib/postgresql/15/bin/psql /out/usr/lib/postgresql/15/bin/
COPY --from=pg16 /usr/lib/postgresql/16/bin/pg_dump /usr/lib/postgresql/16/bin/pg_restore /usr/lib/postgresql/16/bin/psql /out/usr/lib/postgresql/16/bin/
COPY --from=pg17 /usr/lib/postgresql/17/bin/pg_dump /usr/lib/postgresql/17/bin/pg_restore /usr/lib/postgresql/17/bin/psql /out/usr/lib/postgresql/17/bin/
# libpq lives in the multiarch directory (x86_64-linux-gnu, aarch64-linux-gnu),
# which a COPY cannot name for every platform: the glob finds it. The newest
# libpq (18) serves every older client; the copyright files carry the
# PostgreSQL licence that the copied programs require. Directories are made
# with mkdir (0755), not `cp -a --parents`, which fails in bookworm's
# coreutils 9.1 outside / and leaves 0700 directories behind.
RUN set -eux; \
    mkdir -p /out/usr/lib/postgresql/18/bin; \
    cp /usr/lib/postgresql/18/bin/pg_dump /usr/lib/postgresql/18/bin/pg_restore /usr/lib/postgresql/18/bin/psql \
        /out/usr/lib/postgresql/18/bin/; \
    libdir="$(dirname /usr/lib/*-linux-gnu/libpq.so.5)"; \
    mkdir -p "/out$libdir"; \
    cp -P "$libdir"/libpq.so.5* "/out$libdir/"; \
    for doc in libpq5 postgresql-client-18; do \
        mkdir -p "/out/usr/share/doc/$doc"; \
        cp "/usr/share/doc/$doc/copyright" "/out/usr/share/doc/$doc/"; \
    done

# ---------------------------------------------------------------- runtime
FROM debian:bookworm-slim

ARG VERSION=0.1.0
ARG SOURCE=https://github.com/example/keepsake
LABEL org.opencontainers.image.title="keepsake" \
      org.opencontainers.image.description="PostgreSQL backup agent: pg_dump (PostgreSQL 14-18) on a schedule, streamed to S3-compatible storage" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"

COPY --from=clients /out/ /

# bash with pipefail, so that a failing command inside a pipe fails the build.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Only the shared libraries the PostgreSQL clients link (TLS, Kerberos, LDAP,
# readline, compression), tini as PID 1, CA certificates for TLS to S3 and
# to servers, and time zones for schedules. Debian's postgresql-client is not
# installed: its wrapper needs Perl. The build fails if a client misses a
# library or does not start. Versions follow Debian bookworm's security
# updates rather than being pinned one by one.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        ca-certificates tzdata tini \
        libssl3 libgssapi-krb5-2 libldap-2.5-0 libreadline8 zlib1g liblz4-1 libzstd1; \
    rm -rf /var/lib/apt/lists/*; \
    ldconfig; \
    for bin in /usr/lib/postgresql/*/bin/*; do \
        if ldd "$bin" | grep 'not found'; then echo "$bin misses a library" >&2; exit 1; fi; \
        "$bin" --version; \
    done; \
    groupadd --system --gid 10001 keepsake; \
    useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin keepsake

COPY --from=build /usr/local/bin/keepsake /usr/local/bin/keepsake
COPY LICENSE-MIT LICENSE-APACHE packaging/copyright /usr/share/doc/keepsake/
COPY config/keepsake.toml config/minimal.toml /usr/share/doc/keepsake/examples/

# keepsake writes nothing outside the storages it is given: the image runs
# with a read-only root file system (`docker run --read-only`,
# readOnlyRootFilesystem). Backups stream without temp files; TMPDIR is set
# for the libraries' sake, so mount a tmpfs there if a tool you add writes one.
ENV TMPDIR=/tmp
# The agent serves /metrics, /healthz and /readyz here; `keepsake health`
# asks /healthz on loopback.
ENV HTTP_LISTEN=0.0.0.0:9187
EXPOSE 9187

# A numeric user, so that runtimes can check runAsNonRoot without /etc/passwd.
USER 10001:10001

# keepsake's agent waits agent.shutdown_timeout (30 s) on SIGTERM, then
# aborts and cleans up for up to 22 s more: give the container a stop grace
# of 60 s or more (docker stop -t 60, stop_grace_period, terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# Liveness only: /readyz (a stale backup) is for alerting, and a restart
# would not make a backup fresh.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/keepsake", "health"]

# tini as PID 1 forwards SIGTERM/SIGINT to keepsake and reaps zombies, so
# that every command stops on `docker stop` and Ctrl-C, not only those that
# handle signals themselves. Without -g: pg_dump must not get the signal
# directly, keepsake decides when to stop it.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/keepsake"]
CMD ["run"]
