# syntax=docker/dockerfile:1
# gregor image: a release build on Debian bookworm, run as an unprivileged user.
#   docker build -t gregor:0.1.0 .
#   docker run --rm -p 9092:9092 -p 9644:9644 gregor:0.1.0
# The Helm chart in charts/gregor runs it as UID/GID 10001 with a read-only root
# filesystem; keep GREGOR_UID below and the chart's securityContext in step.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY . .
# The caches keep the registry and compiled dependencies between builds; the binary
# is copied out because the target directory lives only in the cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gregor \
    && install -D -m 0755 target/release/gregor /out/gregor

FROM debian:${DEBIAN_RELEASE}-slim
ARG GREGOR_UID=10001
RUN groupadd --system --gid "${GREGOR_UID}" gregor \
    && useradd --system --uid "${GREGOR_UID}" --gid gregor --home-dir /var/lib/gregor \
       --no-create-home --shell /usr/sbin/nologin gregor \
    && install -d -o gregor -g gregor -m 0750 /var/lib/gregor \
    && install -d -m 0755 /etc/gregor
COPY --from=builder /out/gregor /usr/local/bin/gregor
# The embedded default as a file, so `docker run` works without a mounted config;
# its data_dir ./data resolves to /var/lib/gregor/data from the working directory.
COPY config/single-node.yaml /etc/gregor/gregor.yaml
WORKDIR /var/lib/gregor
VOLUME ["/var/lib/gregor"]
USER ${GREGOR_UID}:${GREGOR_UID}
# 9092: Kafka listener; 9644: admin HTTP (/healthz, /readyz, /metrics)
EXPOSE 9092 9644
ENTRYPOINT ["gregor"]
CMD ["serve", "--config", "/etc/gregor/gregor.yaml"]
