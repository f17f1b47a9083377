# syntax=docker/dockerfile:1
# keepsake container: the seed tool's environment variables work unchanged.
#   docker build -t keepsake .
#   docker run --env-file config/env-only.env keepsake          # the agent
#   docker run --env-file config/env-only.env keepsake backup   # one backup now

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -m 0755 target/release/keepsake /usr/local/bin/keepsake

FROM debian:bookworm-slim
# pg_dump must be at least as new as the server; keepsake picks the oldest
# installed one that fits. Debian bookworm ships the 15 client; more majors
# (14-18) arrive with the PostgreSQL project's repository in a later image.
# Versions follow the Debian release rather than being pinned one by one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 keepsake \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin keepsake
COPY --from=build /usr/local/bin/keepsake /usr/local/bin/keepsake
COPY config/keepsake.toml /usr/share/doc/keepsake/examples/keepsake.toml
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/keepsake"]
CMD ["run"]
