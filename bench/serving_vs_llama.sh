#!/usr/bin/env bash
# serving_vs_llama.sh: the serving comparison of the performance issue, sgl-c and
# llama-server one after the other on the same GGUF, same threads, same workload.
#
#   bench/serving_vs_llama.sh MODEL.gguf LLAMA_SERVER_BIN [RUNS]
#
# Environment: BUILD (sgl-c build dir, default build), THREADS (2), VOCAB (32000: token ids
# drawn below it), CONC (8: client
# concurrency and llama-server slots), SGLC_ARGS (extra `sglc serve` flags).
# Workload (bench_serving generated-shared-prefix): 4 groups x 8 prompts, 150-token
# shared prefix + 50-token question, 64 output tokens, concurrency CONC; RUNS runs
# per engine (default 3), medians printed with the sgl-c/peer ratios. Also prints
# each server's time from launch to its first answered request (a 1-token
# completion). The peer is never built here: pass its binary. Requests llama-server
# fails (its output parser rejects the incomplete UTF-8 that random weights emit)
# are reported; *_all fields count what they streamed before failing.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: serving_vs_llama.sh MODEL.gguf LLAMA_SERVER_BIN [RUNS]}
peer=${2:?usage: serving_vs_llama.sh MODEL.gguf LLAMA_SERVER_BIN [RUNS]}
runs=${3:-3}
build=${BUILD:-build}
threads=${THREADS:-2}
conc=${CONC:-8}
port=31731
out=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
pid=

now() { date +%s.%N; }

# wait_ready START_TIME: polls a 1-token completion until it answers; prints seconds since START_TIME.
wait_ready() {
    local t0=$1
    for _ in $(seq 1 1200); do
        if curl -sf -m 30 "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
            -d '{"model":"m","prompt":"Hello","max_tokens":1,"temperature":0}' >/dev/null 2>&1; then
            awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }'
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { echo "server exited" >&2; return 1; }
        sleep 0.05
    done
    echo "server not ready after 60 s" >&2
    return 1
}

bench() { # NAME BACKEND
    for r in $(seq 1 "$runs"); do
        "$build/bench/bench_serving" --port "$port" --backend "$2" --model m --dataset generated-shared-prefix \
            --gsp-num-groups 4 --gsp-prompts-per-group 8 --gsp-system-prompt-len 150 --gsp-question-len 50 \
            --gsp-output-len 64 --max-concurrency "$conc" --seed "$r" --vocab "${VOCAB:-32000}" \
            --output-file "$out/$1.jsonl" >"$out/$1.$r.txt" || true # exits 1 when a request failed
        grep -E "Successful requests|throughput incl|Output token throughput|Median TTFT" "$out/$1.$r.txt" |
            sed "s/^/  $1 run $r: /"
    done
}

echo "== sgl-c ($build/sglc serve, $threads threads)"
t0=$(now)
"$build/sglc" serve --model-path "$model" --served-model-name m --port "$port" --threads "$threads" --max-running-requests "$conc" \
    --log-level warning ${SGLC_ARGS:-} >"$out/sglc.log" 2>&1 &
pid=$!
echo "  first request answered $(wait_ready "$t0") s after launch"
bench sglc openai
kill "$pid"; wait "$pid" 2>/dev/null || true

echo "== llama-server ($peer, $threads threads, $conc slots)"
t0=$(now)
"$peer" -m "$model" --port "$port" -t "$threads" -tb "$threads" -np "$conc" -c $((conc * 512)) \
    --log-disable >"$out/peer.log" 2>&1 &
pid=$!
echo "  first request answered $(wait_ready "$t0") s after launch"
bench peer llama # its native /completion: /v1/completions runs a chat-output parser that rejects some random-weight text
kill "$pid"; wait "$pid" 2>/dev/null || true
pid=

# medians and ratios
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { grep -o "\"$2\":[0-9.e+-]*" "$out/$1.jsonl" | cut -d: -f2 | median; }
printf '\n%-28s %12s %12s %8s\n' "median of $runs runs" sgl-c llama-server ratio
for f in output_throughput all_output_throughput request_throughput median_ttft_ms median_ttft_all_ms mean_ttft_ms \
    p99_ttft_ms mean_itl_ms; do
    a=$(field sglc $f)
    b=$(field peer $f)
    printf '%-28s %12.2f %12.2f %8.2f\n' "$f" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print b ? a / b : 0 }')"
done
