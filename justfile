# Chores. Each recipe is a plain command; `just` is optional.

# Run the server on the embedded defaults (offline, dev mode).
run:
    go run ./cmd/wealthcoach serve --dev

# The test command CI runs.
test:
    go test -race ./...

# CI runs the same three checks; staticcheck is pinned, fetched through the
# module proxy.
# Formatting, vet and staticcheck.
lint:
    test -z "$(gofmt -l .)" || (gofmt -l . && exit 1)
    go vet ./...
    go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Every fuzz target: the frame decoder, the JSON encoder, the token verifier
# and the claims decoder, TIME each: `just fuzz` (30s), `just fuzz 5m`.
# Fuzz every Fuzz* target for TIME each (default 30s).
fuzz TIME="30s":
    go test -run=^$ -fuzz=^FuzzDecodeFrame$ -fuzztime={{TIME}} ./transport/
    go test -run=^$ -fuzz=^FuzzAppendString$ -fuzztime={{TIME}} ./transport/
    go test -run=^$ -fuzz=^FuzzVerify$ -fuzztime={{TIME}} ./transport/auth/
    go test -run=^$ -fuzz=^FuzzClaimsDecode$ -fuzztime={{TIME}} ./transport/auth/

# Builds the binaries and runs every phase; about 5 minutes on 2 cores at the
# default sizes (5,000 idle, 1,000 streaming, with persistence on and off,
# 1,000 cached, 1,000 resumes and 19,000 concurrent sessions, which needs an
# open-file limit of 20,000). Each figure is judged against the stricter of
# both target lists, with the first list's shown beside it. Flags pass
# through: `just bench --repeat 3` (medians of 3 runs), `just bench
# --capacity-sessions 0` (skips the 2.5-minute capacity phase), `just bench
# --phases resume,persist`, `just bench --json results.json`.
# Performance targets against bare gws baselines on loopback (README "Performance").
bench *ARGS:
    go run ./cmd/bench {{ARGS}}

# Flags pass through: `just loadtest --sessions 1000 --messages 2`; see
# `go run ./cmd/wealthcoach loadtest -h`. Start the server first (`just run`).
# Drive sessions against a server running on this machine.
loadtest *ARGS:
    go run ./cmd/wealthcoach loadtest {{ARGS}}

# Ten minutes (by default) of chat with the model failing at random and
# Redis restarted mid-run, then every answer received looked up in the
# store: `just soak`, `just soak 30m 500`. Needs redis-server.
# Soak the server under faults and count answers against stored rows.
soak DURATION="10m" SESSIONS="200":
    bash deploy/soak/soak.sh {{DURATION}} {{SESSIONS}}

# Go benchmarks of the hot paths.
bench-go:
    go test -run=^$ -bench=. -benchmem ./transport/ ./transport/auth/ ./actors/ ./internal/metrics/

# Start local PostgreSQL and Redis if they are not running (Debian packages).
services:
    bash .ci/services.sh
