#!/usr/bin/python3
"""End-to-end tests of the `sglc` command line, run as a user would.

usage: test_cli.py SGLC_BINARY DATA_DIR

Checks the stories260K reference output (greedy from BOS reproduces Karpathy's
documented text byte for byte), JSON output, seeded sampling determinism,
tokenize/detokenize, logits, the perplexity cost of --quantization int8/q4 (stated
bounds, section 5c), and the one-line errors for bad input. Prints
'N passed, N failed' and exits non-zero on failure.
"""
import json
import math
import os
import struct
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


def one_line_error(name, args, must_contain, timeout=300):
    try:
        rc, out, err = run(*args, timeout=timeout)
    except subprocess.TimeoutExpired:
        check(name, False, f"still running after {timeout}s (expected an error exit)")
        return
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

# 5c. --quantization / --dtype on stories260K (F32 weights, embedded). Perplexity of the f32 model and of
# its load-time int8 (Q8_0) and q4 (Q4_0; LM head Q8_0) conversions on a TinyStories-like text written
# for this test (not the model's own greedy output); w_down (rows of 172) stays F32 in both, and the KV
# cache f32 (F32 checkpoint). Measured (x86-64 AVX-512, gcc and clang builds): 385 tokens, f32 3.124,
# int8 3.132 (+0.24..0.27%), q4 3.334..3.336 (+6.7..6.8%); vs f32 mean KL int8 6.3e-4 / q4 0.064,
# top-1 agreement 99.0% / 87.5..88.1%. Bounds: f32 <= 4 (a uniform guess is 512),
# int8 within 1% and q4 within 10% of f32, KL <= 5e-3 / 0.15, top-1 >= 95% / 80%, and the logits do
# change (quantization applied).
PPL_TEXT = ("Once upon a time, there was a little girl named Lily. She liked to play in the park with her red "
            "ball. One day, the ball rolled under a big tree. Lily was sad because she could not reach it. "
            "A kind dog came and pushed the ball out with his nose. Lily smiled and said, \"Thank you, dog!\" "
            "They played together until the sun went down. Then Lily went home and told her mom about her new "
            "friend. Her mom gave her a hug and said she was proud of her for being kind to the dog.\n"
            "Tom was a small boy who had a blue boat. Every morning he took the boat to the pond near his house. "
            "One morning, the wind was very strong and the boat went far away. Tom was scared and started to "
            "cry. His sister Sue heard him and came to help. She found a long stick and pulled the boat back to "
            "the shore. Tom was so happy that he gave Sue a big hug. From that day on, they always played with "
            "the boat together.")
PPL_BOUNDS = {"int8": dict(rel=0.01, kl=5e-3, top1=0.95), "q4": dict(rel=0.10, kl=0.15, top1=0.80)}


def log_softmax_rows(flat, vocab):
    rows = []
    for r in range(len(flat) // vocab):
        row = flat[r * vocab:(r + 1) * vocab]
        m = max(row)
        lse = m + math.log(sum(math.exp(x - m) for x in row))
        rows.append([x - lse for x in row])
    return rows


def stories_logits(tmp, ids, *extra):
    path = os.path.join(tmp, "l.bin")
    rc, out, err = run("logits", "--input-ids", ",".join(map(str, ids)), "--output", path, *extra)
    if rc != 0:
        return None, err.strip()
    data = open(path, "rb").read()
    os.remove(path)
    if len(data) != 4 * 512 * len(ids):
        return None, f"{len(data)} bytes for {len(ids)} x 512 floats"
    return data, ""


rc, out, err = run("tokenize", "--text", PPL_TEXT)
ppl_ids = json.loads(out) if rc == 0 else []
check("ppl_text_tokenized", rc == 0 and 300 <= len(ppl_ids) <= 512 and ppl_ids[0] == 1, f"{len(ppl_ids)} ids {err}")
if ppl_ids:
    with tempfile.TemporaryDirectory() as tmp:
        raw, lp, ppl = {}, {}, {}
        for q in (None, "int8", "q4"):
            raw[q], err = stories_logits(tmp, ppl_ids, *(["--quantization", q] if q else []))
            if raw[q] is None:
                check(f"ppl_logits_{q or 'f32'}", False, err)
                continue
            lp[q] = log_softmax_rows(struct.unpack(f"<{len(raw[q]) // 4}f", raw[q]), 512)
            nll = [-lp[q][i][t] for i, t in enumerate(ppl_ids[1:])]
            ppl[q] = math.exp(sum(nll) / len(nll))
        if None in ppl:
            print(f"     stories260K perplexity on {len(ppl_ids)} tokens: f32 {ppl[None]:.4f}"
                  + "".join(f", {q} {ppl[q]:.4f} ({100 * (ppl[q] / ppl[None] - 1):+.2f}%)" for q in ("int8", "q4")
                            if q in ppl))
            check("ppl_f32", ppl[None] <= 4.0, f"perplexity {ppl[None]:.3f} (bound 4)")
            for q, b in PPL_BOUNDS.items():
                if q not in ppl:
                    continue
                rel = ppl[q] / ppl[None] - 1
                rows = list(zip(lp[None], lp[q]))
                kl = sum(sum(math.exp(a) * (a - c) for a, c in zip(ra, rq)) for ra, rq in rows) / len(rows)
                top1 = sum(max(range(512), key=ra.__getitem__) == max(range(512), key=rq.__getitem__)
                           for ra, rq in rows) / len(rows)
                maxd = max(abs(a - c) for ra, rq in rows for a, c in zip(ra, rq))
                print(f"     {q} vs f32: perplexity {rel:+.4f} (bound {b['rel']:+.2f}), mean KL {kl:.3g} "
                      f"(<= {b['kl']:g}), top-1 {top1:.3f} (>= {b['top1']:g}), max |logprob diff| {maxd:.3g}")
                check(f"ppl_{q}", abs(rel) <= b["rel"] and kl <= b["kl"] and top1 >= b["top1"] and maxd > 1e-3,
                      f"perplexity {ppl[q]:.4f} vs f32 {ppl[None]:.4f} ({rel:+.4f}, bound {b['rel']}), KL {kl:.3g} "
                      f"(<= {b['kl']}), top-1 {top1:.3f} (>= {b['top1']}), max diff {maxd:.3g} (> 1e-3)")
            # F32 weights take exact f32 matmul inputs whatever --dtype says.
            for dt in ("bfloat16", "float32"):
                d, err = stories_logits(tmp, ppl_ids, "--dtype", dt)
                check(f"dtype_{dt}_f32_weights_unchanged", d == raw[None], err or "logits differ from the default")

# 5d. Greedy decoding from BOS with --quantization int8 follows the f32 greedy text for its first 20 tokens
# (the documented output; measured: 114 tokens agree, and both models' top-2 margins over those 20 steps
# are >= 0.84 while int8 moves these logits by at most 0.3).
rc, out, err = run("generate", "--quantization", "int8", "--max-new-tokens", "64", "--temperature", "0", "--json")
ok = rc == 0
if ok:
    j = json.loads(out)
    ok = j["output_ids"][:20] == expected_ids[:20] and j["text"].startswith(expected[:40]) and \
        j["completion_tokens"] == 64
check("generate_int8_follows_f32_greedy", ok, (out or err)[:300])
for q in ("int8", "q4"):
    rc, out, err = run("generate", "--quantization", q, "--prompt", "Once upon a time", "--max-new-tokens", "16",
                       "--temperature", "0", "--json")
    ok = rc == 0 and json.loads(out)["completion_tokens"] == 16 and json.loads(out)["text"].strip() != ""
    check(f"generate_{q}_prompt", ok, (out or err)[:300])

# 5e. --dtype / --quantization / --kv-cache-dtype values are checked up front: one-line errors.
for cmd in ("generate", "logits", "serve"):
    extra = ["--input-ids", "1", "--output", os.devnull] if cmd == "logits" else []
    for opt in ("--dtype", "--quantization", "--kv-cache-dtype"):
        one_line_error(f"{cmd}_bad_{opt[2:].replace('-', '_')}", [cmd, opt, "bogus", *extra], opt, timeout=30)

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
