# The control plane (`ascend serve`) as a container image.
#   docker build -t ascend .
#   docker run -p 8080:8080 -v ascend-data:/var/lib/ascend ascend            # SQLite, one node
#   docker compose -f deploy/compose.yaml up                                  # PostgreSQL, 3 replicas
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ascend-server --bin ascend

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/ascend --create-home ascend
COPY --from=build /src/target/release/ascend /usr/local/bin/ascend
USER ascend
WORKDIR /var/lib/ascend
ENV ASCEND_BIND=0.0.0.0:8080 ASCEND_DB=/var/lib/ascend/ascend.db ASCEND_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["ascend"]
CMD ["serve"]
