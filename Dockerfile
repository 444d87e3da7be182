# evbench in a container, for docker-compose.yml (built once there, as evbench:local).
# Not built on the project's machines: they have no Docker engine.
FROM rust:1.95-bookworm AS build
# What rdkafka's bundled librdkafka build needs: its mklove ./configure and make (bash, a C
# toolchain: in the image), python3 for lds-gen.py, zlib through pkg-config.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p evbench

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/evbench /usr/local/bin/evbench
COPY scenarios /scenarios
ENTRYPOINT ["evbench"]
