#!/usr/bin/env bash
# End-to-end tests of the native (SGLang) API of `sglc serve` with curl:
# /generate (text, input_ids, batch, n, streaming with cumulative text,
# logprobs, stop), /tokenize, /detokenize, /get_model_info, /get_server_info,
# /flush_cache, /abort_request, /health, /health_generate, /metrics, and
# the flag errors of `sglc serve`. JSON is checked with python3.
#
# usage: test_native.sh SGLC_BINARY DATA_DIR
# The server listens on a free loopback port and is always stopped on exit.
set -u
SGLC=$1
DATA=$2
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v curl >/dev/null || { echo "FAIL curl is not installed"; exit 1; }

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

pass=0
fail=0
check() { # name, command...
  local name=$1
  shift
  if "$@" >"$tmp/check.out" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $name"
  else
    fail=$((fail + 1))
    echo "FAIL $name: $(head -c 600 "$tmp/check.out")"
  fi
}
# jcheck FILE PYTHON_EXPR: the expression (over d = the parsed JSON) must be true
jcheck() {
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
ok = eval(sys.argv[2])
if not ok:
    print("false:", sys.argv[2], "on", json.dumps(d)[:400])
    sys.exit(1)
EOF
}

# ---- flag errors (no server needed) ----
"$SGLC" serve --bogus >"$tmp/o" 2>"$tmp/e"
rc=$?
check "unknown flag exits 2 with one line" test "$rc" = 2 -a "$(wc -l <"$tmp/e")" = 1
check "unknown flag message" grep -q "unrecognized argument '--bogus'" "$tmp/e"
"$SGLC" serve --port 99999 >"$tmp/o" 2>"$tmp/e"
check "bad value exits 2" test $? = 2
check "bad value message" grep -q -- "--port must be an integer in \[0, 65535\]" "$tmp/e"
"$SGLC" serve --help >"$tmp/o" 2>&1
check "--help lists the flags" grep -q -- "--max-total-tokens" "$tmp/o"

# ---- start the server ----
# a long context, so the requests that must still be running when aborted cannot finish first
"$SGLC" serve --host 127.0.0.1 --port 0 --enable-metrics --chat-template "$DATA/server/simple_chat.jinja" --context-length 8192 \
  2>"$tmp/server.log" >/dev/null &
pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "FAIL server did not start: $(cat "$tmp/server.log")"
  exit 1
fi
B="http://127.0.0.1:$port"
C=(curl -sS --max-time 120)

post() { "${C[@]}" -o "$tmp/$1" -w '%{http_code}' -H 'Content-Type: application/json' -X POST "$B$2" -d "$3"; }

ids=$(head -c 10000 "$DATA/models/stories260K/expected_greedy_ids.txt" | tr -s ' \n' ' ' | cut -d' ' -f1-40 | tr ' ' ',')

st=$(post g1 /generate '{"input_ids":[1],"sampling_params":{"max_new_tokens":40,"temperature":0}}')
check "generate input_ids: 200" test "$st" = 200
check "generate reproduces the reference ids" jcheck "$tmp/g1" "d['output_ids'] == [$ids]"
check "generate meta_info" jcheck "$tmp/g1" "d['meta_info']['finish_reason'] == {'type':'length','length':40} and d['meta_info']['prompt_tokens'] == 1 and d['meta_info']['completion_tokens'] == 40 and 'cached_tokens' in d['meta_info'] and len(d['meta_info']['id']) == 32"
check "generate text" jcheck "$tmp/g1" "d['text'].startswith(', there was' ) or d['text'].startswith('Once upon')"

st=$(post g2 /generate '{"text":["Once upon a time","The dog"],"sampling_params":{"max_new_tokens":5,"temperature":0},"rid":["a1","a2"]}')
check "batch generate: 200" test "$st" = 200
check "batch generate: a list with the given rids" jcheck "$tmp/g2" "isinstance(d, list) and len(d) == 2 and [x['meta_info']['id'] for x in d] == ['a1','a2'] and all(x['meta_info']['completion_tokens'] == 5 for x in d)"

st=$(post g3 /generate '{"text":"Once upon a time","sampling_params":{"max_new_tokens":6,"temperature":0.9,"n":3,"sampling_seed":11}}')
check "n=3: three results" jcheck "$tmp/g3" "isinstance(d, list) and len(d) == 3"
post g3b /generate '{"text":"Once upon a time","sampling_params":{"max_new_tokens":6,"temperature":0.9,"n":3,"sampling_seed":11}}' >/dev/null
check "n=3 with a seed is reproducible" "$PY" -c "import json; a=json.load(open('$tmp/g3')); b=json.load(open('$tmp/g3b')); assert [x['text'] for x in a] == [x['text'] for x in b]"

st=$(post g4 /generate '{"text":"Once upon a time","sampling_params":{"max_new_tokens":64,"temperature":0,"stop":["Lily"]}}')
check "stop string" jcheck "$tmp/g4" "d['meta_info']['finish_reason'] == {'type':'stop','matched':'Lily'} and 'Lily' not in d['text']"
post g4b /generate '{"text":"Once upon a time","sampling_params":{"max_new_tokens":64,"temperature":0,"stop":["Lily"],"no_stop_trim":true}}' >/dev/null
check "no_stop_trim keeps the stop string" jcheck "$tmp/g4b" "d['text'].endswith('Lily')"

st=$(post g5 /generate '{"text":"Once upon a time","sampling_params":{"max_new_tokens":5,"temperature":0},"return_logprob":true,"top_logprobs_num":3}')
check "logprobs" jcheck "$tmp/g5" "len(d['meta_info']['output_token_logprobs']) == 5 and all(x[1] == i for x, i in zip(d['meta_info']['output_token_logprobs'], d['output_ids'])) and all(len(t) == 3 and t[0][1] == i for t, i in zip(d['meta_info']['output_top_logprobs'], d['output_ids']))"

# streaming: cumulative text, final chunk carries finish_reason, then [DONE]
"${C[@]}" -N -H 'Content-Type: application/json' "$B/generate" \
  -d '{"input_ids":[1],"stream":true,"sampling_params":{"max_new_tokens":12,"temperature":0}}' >"$tmp/s1"
check "stream ends with [DONE]" test "$(tail -n 2 "$tmp/s1" | head -n 1)" = "data: [DONE]"
check "stream text is cumulative" "$PY" - "$tmp/s1" "$tmp/g1" <<'EOF'
import json, sys
evs = [json.loads(l[6:]) for l in open(sys.argv[1], encoding="utf-8") if l.startswith("data: {")]
full = json.load(open(sys.argv[2], encoding="utf-8"))
# The I/O thread sends what is new each time it runs: a fast model on a busy host may put several (or all)
# tokens in one event, so only the cumulative shape is checked, not the number of events.
assert len(evs) >= 1, len(evs)
for a, b in zip(evs, evs[1:]):
    assert b["text"].startswith(a["text"]), (a["text"], b["text"])
    assert b["output_ids"][: len(a["output_ids"])] == a["output_ids"]
assert all(e["meta_info"]["finish_reason"] is None for e in evs[:-1])
assert evs[-1]["meta_info"]["finish_reason"] == {"type": "length", "length": 12}
assert evs[-1]["output_ids"] == full["output_ids"][:12]
EOF

# OpenAI streaming through curl: chunk objects, role first, [DONE] last
"${C[@]}" -N -H 'Content-Type: application/json' "$B/v1/chat/completions" \
  -d '{"model":"stories260K","stream":true,"max_tokens":6,"temperature":0,"messages":[{"role":"user","content":"Hi"}]}' >"$tmp/s2"
check "chat stream chunks" "$PY" - "$tmp/s2" <<'EOF'
import json, sys
lines = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
assert lines[-1] == "data: [DONE]", lines[-1]
evs = [json.loads(l[6:]) for l in lines[:-1]]
assert all(e["object"] == "chat.completion.chunk" for e in evs)
assert evs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
assert evs[-1]["choices"][0]["finish_reason"] == "length"
assert len({e["id"] for e in evs}) == 1
EOF

# tokenize / detokenize round trip
post t1 /tokenize '{"prompt":"Once upon a time"}' >/dev/null
check "tokenize" jcheck "$tmp/t1" "d['count'] == len(d['tokens']) and d['tokens'][0] == 1 and d['max_model_len'] == 8192"
toks=$("$PY" -c "import json; print(json.dumps(json.load(open('$tmp/t1'))['tokens']))")
post t2 /detokenize "{\"tokens\":$toks}" >/dev/null
check "detokenize round trip" jcheck "$tmp/t2" "d['text'].endswith('Once upon a time')"
post t3 /tokenize '{"messages":[{"role":"user","content":"Hi"}]}' >/dev/null
post t4 /tokenize '{"prompt":"<s>User: Hi\nAssistant:","add_special_tokens":false}' >/dev/null
check "tokenize messages uses the chat template" "$PY" -c "import json; a=json.load(open('$tmp/t3')); b=json.load(open('$tmp/t4')); assert a['tokens'] == b['tokens'], (a, b)"
st=$(post t5 /detokenize '{"tokens":[1,99999]}')
check "detokenize out of range: 400" test "$st" = 400

# info endpoints
"${C[@]}" "$B/get_model_info" >"$tmp/i1"
check "get_model_info" jcheck "$tmp/i1" "d['model_path'] == 'stories260K' and d['is_generation'] is True and d['has_chat_template'] is True"
"${C[@]}" "$B/get_server_info" >"$tmp/i2"
check "get_server_info" jcheck "$tmp/i2" "d['port'] == 0 and d['enable_metrics'] is True and d['internal_states'][0]['kv_total_tokens'] > 0 and 'version' in d"
check "v1/models/{id} 404" test "$("${C[@]}" -o /dev/null -w '%{http_code}' "$B/v1/models/nope")" = 404
check "health" test "$("${C[@]}" -o /dev/null -w '%{http_code}' "$B/health")" = 200
check "health_generate" test "$("${C[@]}" -o /dev/null -w '%{http_code}' "$B/health_generate")" = 200

# waits (10 s at most) until the server runs at least one request
wait_running() {
  for _ in $(seq 1 200); do
    "${C[@]}" "$B/get_server_info" >"$tmp/wr"
    "$PY" -c "import json,sys; sys.exit(0 if json.load(open('$tmp/wr'))['internal_states'][0]['num_running_reqs'] > 0 else 1)" && return 0
    sleep 0.05
  done
  return 1
}

# abort a running request by rid: it finishes with "abort"
"${C[@]}" -N -H 'Content-Type: application/json' "$B/generate" \
  -d '{"text":"Once upon a time","rid":"abort-me","stream":true,"sampling_params":{"max_new_tokens":8000,"ignore_eos":true}}' >"$tmp/s3" &
cpid=$!
check "a long request is running" wait_running
st=$(post a1 /abort_request '{"rid":"abort-me"}')
wait $cpid
check "abort_request: 200" test "$st" = 200
check "abort_request found the request" jcheck "$tmp/a1" "d['aborted'] == 1"
check "aborted stream ends with finish_reason abort" "$PY" - "$tmp/s3" <<'EOF'
import json, sys
evs = [json.loads(l[6:]) for l in open(sys.argv[1], encoding="utf-8") if l.startswith("data: {")]
assert evs and evs[-1]["meta_info"]["finish_reason"]["type"] == "abort", evs[-1:]
assert evs[-1]["meta_info"]["completion_tokens"] < 8000
EOF

# flush_cache: 400 while a request runs, 200 when idle
"${C[@]}" -H 'Content-Type: application/json' "$B/generate" \
  -d '{"text":"x","rid":"flush-blocker","sampling_params":{"max_new_tokens":8000,"ignore_eos":true}}' >/dev/null &
cpid=$!
wait_running
st_busy=$("${C[@]}" -o "$tmp/f1" -w '%{http_code}' -X POST "$B/flush_cache")
post a2 /abort_request '{"rid":"flush-blocker"}' >/dev/null
wait $cpid
st_idle=$("${C[@]}" -o "$tmp/f2" -w '%{http_code}' -X POST "$B/flush_cache")
check "flush_cache while running: 400" test "$st_busy" = 400
check "flush_cache when idle: 200" test "$st_idle" = 200
"${C[@]}" "$B/get_server_info" >"$tmp/i3"
check "every KV page free after flush" jcheck "$tmp/i3" "d['internal_states'][0]['kv_used_tokens'] == 0 and d['internal_states'][0]['kv_free_tokens'] == d['internal_states'][0]['kv_total_tokens']"

# metrics
"${C[@]}" "$B/metrics" >"$tmp/m1"
check "metrics" grep -q '^sglang:generation_tokens_total{model_name="stories260K"} [1-9]' "$tmp/m1"
check "metrics histogram" grep -q '^sglang:time_to_first_token_seconds_bucket{model_name="stories260K",le="+Inf"} [1-9]' "$tmp/m1"

# native errors
st=$(post e1 /generate '{"text":"x","input_ids":[1]}')
check "generate with text and input_ids: 400" test "$st" = 400
check "error body" jcheck "$tmp/e1" "d['object'] == 'error' and d['code'] == 400 and 'not both' in d['message']"
st=$(post e2 /generate '{"input_ids":[1],"sampling_params":{"max_new_tokens":9000}}')
check "over the context: 400" test "$st" = 400
"${C[@]}" -N -H 'Content-Type: application/json' "$B/generate" -d '{"input_ids":[1],"stream":true,"sampling_params":{"top_p":5}}' >"$tmp/e3"
check "stream validation error is a 400 JSON" jcheck "$tmp/e3" "d['code'] == 400 and 'top_p' in d['message']"

# clean shutdown on SIGTERM
kill -TERM "$pid"
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" 2>/dev/null
rc=$?
pid=""
check "SIGTERM: clean exit 0" test "$rc" = 0

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
