# syntax=docker/dockerfile:1
# The one AWE binary, every role in it, with the operator console embedded.
# The build needs no database: sqlx reads the committed query cache in .sqlx/
# (SQLX_OFFLINE=true).

# The console: TypeScript and React, built by Vite into console/dist.
FROM node:20-bookworm-slim AS console
WORKDIR /src/console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console/ ./
RUN npm run build

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml clippy.toml ./
COPY .cargo .cargo
COPY .sqlx .sqlx
COPY migrations migrations
COPY nats nats
COPY assets assets
COPY services services
COPY src src
# build.rs embeds what the console stage built.
COPY --from=console /src/console/dist console/dist
RUN cargo build --release --locked --bin awe && strip target/release/awe

# glibc and CA certificates, no shell, user 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/awe /usr/local/bin/awe
USER nonroot:nonroot
ENV AWE__HTTP__ADDR=0.0.0.0:8080 AWE__LOG__FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/awe"]
CMD ["run", "all"]
