# Multi-stage build: a static binary on a minimal base, run as non-root.
#   docker build -t wealthcoach .
#   docker run -p 8080:8080 -e WEALTHCOACH_AUTH_JWT_SECRET=... wealthcoach
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: the SQLite driver is pure Go, so the binary is fully static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/wealthcoach ./cmd/wealthcoach

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wealthcoach /usr/local/bin/wealthcoach
WORKDIR /var/lib/wealthcoach
# The public listener binds beyond loopback; the admin listener stays on the
# container's loopback (the health check runs inside) unless an operator sets
# WEALTHCOACH_ADMIN_LISTEN=0.0.0.0:9090 together with WEALTHCOACH_ADMIN_TOKEN.
ENV WEALTHCOACH_SERVER_LISTEN=0.0.0.0:8080 \
    WEALTHCOACH_ADMIN_LISTEN=127.0.0.1:9090 \
    WEALTHCOACH_STORE_DSN=/var/lib/wealthcoach/wealthcoach.db
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/wealthcoach", "health", "--url", "http://127.0.0.1:9090/healthz"]
ENTRYPOINT ["/usr/local/bin/wealthcoach"]
CMD ["serve"]
