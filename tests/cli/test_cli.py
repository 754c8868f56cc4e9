#!/usr/bin/python3
"""End-to-end tests of the `sglc` command line, run as a user would.

usage: test_cli.py SGLC_BINARY DATA_DIR

Checks the stories260K reference output (greedy from BOS reproduces Karpathy's
documented text byte for byte), JSON output, seeded sampling determinism,
tokenize/detokenize, and the one-line errors for bad input. Prints
'N passed, N failed' and exits non-zero on failure.
"""
import json
import os
import subprocess
import sys
import tempfile

SGLC, DATA = sys.argv[1], sys.argv[2]
STORIES = os.path.join(DATA, "models", "stories260K")
results = {"pass": 0, "fail": 0}


def run(*args, timeout=300):
    p = subprocess.run([SGLC, *args], capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(name, cond, detail=""):
    if cond:
        results["pass"] += 1
        print(f"ok   {name}")
    else:
        results["fail"] += 1
        print(f"FAIL {name}: {detail}")


def one_line_error(name, args, must_contain):
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    check(name, rc != 0 and len(lines) == 1 and must_contain in lines[0] and "error" in lines[0],
          f"rc={rc} stderr={err!r}")


# 1. stories260K greedy output from BOS, byte for byte (embedded default model and the file).
expected = open(os.path.join(STORIES, "expected_greedy_output.txt"), "rb").read().decode()
expected_ids = [int(x) for x in open(os.path.join(STORIES, "expected_greedy_ids.txt")).read().split()]
for label, extra in (("embedded", []), ("file", ["--model-path", os.path.join(STORIES, "stories260K.gguf"),
                                                 "--context-length", "512"])):
    rc, out, err = run("generate", *extra, "--max-new-tokens", "256", "--temperature", "0", "--json")
    ok = rc == 0
    if ok:
        j = json.loads(out)
        check(f"stories260K_greedy_text_{label}", j["text"] == expected,
              f"\n got: {j['text'][:200]!r}\nwant: {expected[:200]!r}")
        check(f"stories260K_greedy_ids_{label}", j["output_ids"] == expected_ids,
              f"first mismatch at {next((i for i, (a, b) in enumerate(zip(j['output_ids'], expected_ids)) if a != b), None)}")
        check(f"stories260K_json_fields_{label}",
              j["input_ids"] == [1] and j["finish_reason"] == "length" and j["completion_tokens"] == 256
              and j["decode_tokens_per_s"] > 0 and j["prefill_tokens_per_s"] > 0, out[:300])
    else:
        check(f"stories260K_greedy_{label}", False, err)

# 2. Streaming text mode prints the same text, then the speed line on stderr.
rc, out, err = run("generate", "--max-new-tokens", "256", "--temperature", "0")
check("stories260K_stream_text", rc == 0 and out == expected + "\n", repr(out[:120]))
check("stories260K_stream_speed_line", "prefill:" in err and "tokens/s" in err, err)

# 3. Seeded sampling is deterministic; different seeds differ.
outs = []
for seed in ("7", "7", "8"):
    rc, out, err = run("generate", "--prompt", "Once upon a time", "--max-new-tokens", "40", "--temperature",
                       "0.9", "--top-p", "0.95", "--top-k", "40", "--seed", seed, "--json")
    outs.append(json.loads(out)["output_ids"] if rc == 0 else None)
check("seed_determinism", outs[0] is not None and outs[0] == outs[1], str(outs[:2]))
check("seed_changes_output", outs[0] != outs[2], str(outs))

# 4. top logprobs in JSON: N entries per step, sorted, greedy token is the top one.
rc, out, err = run("generate", "--max-new-tokens", "5", "--temperature", "0", "--top-logprobs", "3", "--json")
ok = rc == 0
if ok:
    j = json.loads(out)
    tl = j["top_logprobs"]
    ok = len(tl) == 5 and all(len(s) == 3 for s in tl) and \
        all(s[0]["logprob"] >= s[1]["logprob"] >= s[2]["logprob"] for s in tl) and \
        [s[0]["id"] for s in tl] == j["output_ids"] and all(s[0]["logprob"] <= 0 for s in tl)
check("top_logprobs", ok, out[:300])

# 4b. A continuation keeps the space that separates it from the prompt (SentencePiece Strip applies
# only at the start of the text).
rc, out, err = run("generate", "--prompt", "Once", "--max-new-tokens", "3", "--temperature", "0", "--json")
check("continuation_keeps_leading_space", rc == 0 and json.loads(out)["text"] == " upon a time", out[:200])

# 5. tokenize / detokenize with the embedded model's SentencePiece vocabulary.
rc, out, err = run("tokenize", "--text", "Once upon a time")
ids = json.loads(out) if rc == 0 else None
check("tokenize_default", ids is not None and ids[0] == 1 and len(ids) > 2, out + err)
if ids:
    rc, out, err = run("detokenize", "--ids", ",".join(map(str, ids[1:])))
    check("detokenize_roundtrip", rc == 0 and out == "Once upon a time\n", repr(out))
rc, out, err = run("tokenize", "--text", "Once", "--no-special")
check("tokenize_no_special", rc == 0 and json.loads(out)[0] != 1, out)

# 5b. logits: prefill and decode paths write the same [n][vocab] float32 logits.
with tempfile.TemporaryDirectory() as tmp:
    import struct
    outs = {}
    for mode in ("prefill", "decode"):
        path = os.path.join(tmp, mode + ".bin")
        rc, out, err = run("logits", "--input-ids", "1,403,407,261", "--output", path, "--mode", mode)
        outs[mode] = open(path, "rb").read() if rc == 0 else b""
    ok = len(outs["prefill"]) == 4 * 512 * 4 and len(outs["decode"]) == len(outs["prefill"])
    if ok:
        a = struct.unpack(f"{4 * 512}f", outs["prefill"])
        b = struct.unpack(f"{4 * 512}f", outs["decode"])
        ok = max(abs(x - y) for x, y in zip(a, b)) < 1e-4
    check("logits_prefill_equals_decode", ok, f"sizes {len(outs['prefill'])} {len(outs['decode'])}")
    one_line_error("logits_needs_output", ["logits", "--input-ids", "1,2"], "--output")
    one_line_error("logits_bad_mode", ["logits", "--input-ids", "1", "--output", os.path.join(tmp, "x"),
                                       "--mode", "sideways"], "--mode")
    one_line_error("logits_bad_ids", ["logits", "--input-ids", "1,abc", "--output", os.path.join(tmp, "x")],
                   "invalid")

# 6. One-line errors for bad input.
with tempfile.TemporaryDirectory() as tmp:
    one_line_error("missing_model_path", ["generate", "--model-path", os.path.join(tmp, "nope")], "no such file")
    one_line_error("dir_without_config", ["generate", "--model-path", tmp], "config.json")
    bad = os.path.join(tmp, "bad")
    os.mkdir(bad)
    with open(os.path.join(bad, "config.json"), "w") as f:
        json.dump({"architectures": ["GPTNeoXForCausalLM"], "hidden_size": 64}, f)
    one_line_error("unsupported_architecture", ["generate", "--model-path", bad], "GPTNeoXForCausalLM")
    junk = os.path.join(tmp, "junk.gguf")
    with open(junk, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + b"\xff" * 32)
    one_line_error("corrupt_gguf", ["generate", "--model-path", junk], "junk.gguf")
    trunc = os.path.join(tmp, "trunc.gguf")
    with open(os.path.join(STORIES, "stories260K.gguf"), "rb") as f:
        data = f.read()
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 2])
    one_line_error("truncated_gguf", ["generate", "--model-path", trunc], "trunc.gguf")
one_line_error("prompt_longer_than_context", ["generate", "--prompt", "Once upon a time " * 200], "context length")
one_line_error("bad_temperature", ["generate", "--temperature", "-1"], "temperature")
one_line_error("bad_max_new_tokens", ["generate", "--max-new-tokens", "abc"], "max-new-tokens")
one_line_error("unknown_option", ["generate", "--bogus"], "--bogus")
one_line_error("token_id_out_of_range", ["generate", "--input-ids", "1,99999"], "out of range")
one_line_error("unknown_command", ["frobnicate"], "frobnicate")
one_line_error("tokenize_needs_text", ["tokenize"], "--text")
one_line_error("detokenize_bad_ids", ["detokenize", "--ids", "1,x,3"], "invalid")
rc, out, err = run("generate", "--help")
check("generate_help", rc == 0 and "--model-path" in out and "--top-logprobs" in out, out[:200])

print(f"{results['pass']} passed, {results['fail']} failed")
sys.exit(1 if results["fail"] else 0)
