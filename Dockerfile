# syntax=docker/dockerfile:1
# Comptoir: one image for every topology. The default command runs the whole shop in one process
# with the demo data; the same image runs one module (`serve --service payment`) or the gateway
# (`serve --gateway`). See docs/DEPLOYMENT.md.
#
#   docker build -t comptoir .
#   docker run --rm -p 8080:8080 comptoir

# ---- build ------------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
# The bundled librdkafka is built with ./configure and make and wants a C++ compiler; SQLite (bundled)
# and ring need only the C compiler the image has. The .proto files are compiled in Rust (protox):
# no protoc.
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The caches (BuildKit) keep downloaded crates and compiled dependencies between builds; the binary
# is copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p comptoir \
    && cp target/release/comptoir /usr/local/bin/comptoir

# ---- runtime ----------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates for TLS to brokers and SMTP servers; curl for the health checks of docker compose.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 comptoir \
    && useradd --system --uid 10001 --gid comptoir --home-dir /var/lib/comptoir --create-home comptoir
COPY --from=build /usr/local/bin/comptoir /usr/local/bin/comptoir
USER comptoir
WORKDIR /var/lib/comptoir
# SQLite files (modules without a database URL) and generated secrets go under data_dir.
ENV COMPTOIR_DATA_DIR=/var/lib/comptoir/data \
    COMPTOIR_LOG__FORMAT=json
# 8080: the REST API (monolith or gateway); 9001-9011: the modules' services (gRPC, /healthz,
# /readyz, /metrics on one port each).
EXPOSE 8080 9000-9017
ENTRYPOINT ["comptoir"]
CMD ["serve", "--demo"]
