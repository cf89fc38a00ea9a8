# Chores. Each recipe is a plain command; `just` is optional.

# Run the server on the embedded defaults (offline, dev mode).
run:
    go run ./cmd/wealthcoach serve --dev

# The test command CI runs.
test:
    go test -race ./...

# Formatting, vet and staticcheck (fetched through the module proxy).
lint:
    test -z "$(gofmt -l .)" || (gofmt -l . && exit 1)
    go vet ./...
    go run honnef.co/go/tools/cmd/staticcheck@latest ./...

# Fuzz the frame decoder, the JSON encoder and the token verifier (30s each).
fuzz:
    go test -run=^$ -fuzz=FuzzDecodeFrame -fuzztime=30s ./transport/
    go test -run=^$ -fuzz=FuzzAppendString -fuzztime=30s ./transport/
    go test -run=^$ -fuzz=FuzzVerify -fuzztime=30s ./transport/auth/

# Builds the binaries and runs every phase; about 4 minutes on 2 cores at the
# default sizes (5,000 idle, 1,000 streaming, 1,000 cached and 10,000 concurrent
# sessions). Flags pass through: `just bench --repeat 3` (medians of 3 runs,
# about 6 minutes), `just bench --capacity-sessions 0` (skips the 2.5-minute
# 10,000-session phase), `just bench --json results.json`.
# Performance targets against bare gws baselines on loopback (README "Performance").
bench *ARGS:
    go run ./cmd/bench {{ARGS}}

# Go benchmarks of the hot paths.
bench-go:
    go test -run=^$ -bench=. -benchmem ./transport/ ./transport/auth/ ./actors/

# Start local PostgreSQL and Redis if they are not running (Debian packages).
services:
    bash .ci/services.sh
