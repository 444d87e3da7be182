# evbench in a container, for docker-compose.yml. (Not built on the development machines:
# they have no Docker engine.)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p evbench

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/evbench /usr/local/bin/evbench
COPY scenarios /scenarios
ENTRYPOINT ["evbench"]
