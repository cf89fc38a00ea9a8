#!/usr/bin/env bash
# Soak: the server, the fake model and a private Redis as separate
# processes, the model failing, cutting and hanging at random, Redis
# stopped and started again mid-run; then every answer the clients
# received is looked up in the store (loadtest --verify-store), and the
# server's heap and goroutines are printed as they went.
#
#   deploy/soak/soak.sh [DURATION] [SESSIONS]      (default 10m 200)
#
# Needs Go and redis-server. The store is a fresh SQLite file, so the run
# touches nothing outside its work directory; set SOAK_DSN to a
# PostgreSQL URL to soak that instead. Env SOAK_FAIL_RATE, SOAK_CUT_RATE,
# SOAK_HANG_RATE (defaults 0.03, 0.03, 0.01) set the faults.
set -euo pipefail

duration=${1:-10m}
sessions=${2:-200}
fail=${SOAK_FAIL_RATE:-0.03}
cut=${SOAK_CUT_RATE:-0.03}
hang=${SOAK_HANG_RATE:-0.01}

cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/wealthcoach-soak.XXXXXX)
echo "soak: work directory $work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null
	wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/wealthcoach" ./cmd/wealthcoach
wc="$work/wealthcoach"
redis_port=$(free_port)
model_port=$(free_port)
chat_port=$(free_port)
admin_port=$(free_port)

start_redis() {
	redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >>"$work/redis.log" 2>&1 &
	echo $! >"$work/redis.pid"
	for _ in $(seq 50); do
		redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "soak: redis-server did not start" >&2
	exit 1
}
start_redis

"$wc" fakellm --listen "127.0.0.1:$model_port" --fail-rate "$fail" --cut-rate "$cut" --hang-rate "$hang" \
	--first-token-delay 100ms --token-delay 20ms 2>"$work/fakellm.log" &
pids+=($!)

export WEALTHCOACH_SERVER_LISTEN="127.0.0.1:$chat_port"
export WEALTHCOACH_ADMIN_LISTEN="127.0.0.1:$admin_port"
export WEALTHCOACH_AUTH_JWT_SECRET="soak-secret-$(date +%s%N)-0123456789abcdef"
export WEALTHCOACH_LLM_PROVIDER=openai
export WEALTHCOACH_LLM_BASE_URL="http://127.0.0.1:$model_port/v1"
export WEALTHCOACH_LLM_API_KEY=soak
# A hung stream ends in 5s rather than the default minute.
export WEALTHCOACH_LLM_TIMEOUT=5s
export WEALTHCOACH_LLM_RATE_LIMIT_PER_MINUTE=6000
export WEALTHCOACH_LLM_RATE_LIMIT_BURST=100
export WEALTHCOACH_LOG_LEVEL=info
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
if [ -n "${SOAK_DSN:-}" ]; then
	export DATABASE_URL="$SOAK_DSN"
else
	export WEALTHCOACH_STORE_DRIVER=sqlite
	export WEALTHCOACH_STORE_DSN="$work/soak.db"
fi
cfg="$work/config.yaml"
echo "# soak: everything from the environment" >"$cfg"

"$wc" users seed --config "$cfg" --count "$sessions" --prefix soak >/dev/null
"$wc" serve --config "$cfg" 2>"$work/server.log" &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 150); do
	curl -fs "http://127.0.0.1:$admin_port/readyz" >/dev/null && break
	sleep 0.2
done

# The server's heap and goroutines every 30s, from its own metrics.
(
	echo "elapsed_s heap_inuse_mib goroutines"
	start=$(date +%s)
	while kill -0 "$server_pid" 2>/dev/null; do
		m=$(curl -fs "http://127.0.0.1:$admin_port/metrics" || true)
		heap=$(awk '$1=="go_memstats_heap_inuse_bytes"{printf "%.1f", $2/1048576}' <<<"$m")
		gor=$(awk '$1=="go_goroutines"{print $2}' <<<"$m")
		echo "$(($(date +%s) - start)) ${heap:-?} ${gor:-?}"
		sleep 30
	done
) >"$work/memory.txt" &
pids+=($!)

# Redis goes away for 10s a third of the way in.
secs=$(python3 -c "import re,sys; d='$duration'; t=sum(float(n)*{'h':3600,'m':60,'s':1}[u] for n,u in re.findall(r'([0-9.]+)([hms])',d)); print(int(t))")
(
	sleep $((secs / 3))
	echo "soak: stopping redis at $((secs / 3))s" >&2
	kill "$(cat "$work/redis.pid")"
	sleep 10
	echo "soak: starting redis again" >&2
	start_redis
) &
pids+=($!)

set +e
"$wc" loadtest --config "$cfg" --sessions "$sessions" --users-prefix soak --soak --duration "$duration" \
	--ramp 10s --think 1s --timeout 20s --server-pid "$server_pid" \
	--verify-store --verify-wait 2m --json "$work/soak.json" --allow-errors | tee "$work/report.txt"
status=${PIPESTATUS[0]}
set -e
echo
echo "server heap and goroutines over the run ($work/memory.txt):"
cat "$work/memory.txt"
echo
echo "soak: report $work/report.txt, summary $work/soak.json, logs in $work"
exit "$status"
