#!/usr/bin/python3
"""run_reference: checks sgl-c's numerics against the PyTorch reference (torch_ref.py).

For each case (an architecture with a rope-scaling / tying / GQA variant) it writes
tiny random checkpoints with tools/gen_model.py — HF f32 and bf16 directories and
GGUF f32/f16/bf16/q8_0/q4_0 exports of the same weights, with the real tokenizer —
and for each format (BASE+Q: the BASE checkpoint loaded with `--quantization Q`):
  1. `sglc logits --mode prefill` on a 64-token prompt vs the reference logits,
  2. `sglc logits --mode decode` (one token per forward, KV cache) vs the same,
  3. `sglc generate` 32 greedy tokens vs the reference's greedy tokens,
single-threaded (--threads), plus one prefill per case with --mt-threads (2) threads,
and prefill runs with --dtype float32 / --kv-cache-dtype (below).

The reference (torch_ref.engine_model) runs on the values the engine holds (bf16/f16
upcast, q8_0/q4_0 dequantized by the same numpy code that quantized them; for
--quantization the projections and LM head quantized by gen_model's ggml-reference
quantizers, the embedding lookup as stored), in float64, and rounds where the engine
rounds by default: every matmul input to bf16 (round to nearest even) for bf16
weights, to 8-bit blocks of 32 (scale amax/127 in f32, round half to even) for
q8_0/q4_0 weights, and the keys/values to bf16 wherever the KV cache is bf16 (every
format but f32; --dtype float32 keeps inputs exact and the cache f32). So each
comparison measures only the engine's own error — except that a value within the
engine's f32 error of a rounding midpoint now and then rounds the other way (a
"flip"); a flip compounds through the later layers and positions, hence looser
thresholds wherever the engine rounds. Measured on 16 64-token prompts per case (the
bf16 formats, 64 runs): 43 of the runs have a flip above 2e-2, moving the logits by
up to 0.04 S max / 0.0035 S rms (bf16 KV alone, f16 / f32 weights: 0.011 S / 0.0007 S).

Thresholds (stated here, printed with every result; S = rms of the reference logits,
about 4 for these models):
  f32 weights (HF, GGUF)            max |logit diff| <= 1e-4
  bf16 / f16 with --dtype float32   max |logit diff| <= 2e-2 vs the exact reference
                                    (prefill; nothing rounded)
  bf16 (HF, GGUF), f16 (GGUF),      max |logit diff| <= 0.08 S, rms diff <= 0.008 S, and
    and the --kv-cache-dtype runs   nearer the rounding reference than the exact one (rms
    (bf16 format: float32; first   of the differences; prefill and decode): the engine does
    f32 format: bfloat16)           round — a missing rounding sits at 0.02-0.09 S max /
                                    0.0025-0.01 S rms from the rounding reference and ~0
                                    from the exact one, whereas flips keep the engine at
                                    most 0.5x as far from it as from the exact one
  q8_0 / q4_0 (GGUF), hf-bf16+int8  max |logit diff| <= 0.25 S, rms diff <= 0.03 S,
    and hf-bf16+q4                  mean KL <= 1e-2, top-1 agreement >= 90%
                                    (a wrong scale or nibble order gives diffs ~ S)
  greedy: the engine's 32 tokens must equal the reference's; where they part, the
  reference's top-2 margin at that step must be within the format's max-diff
  tolerance (a near tie), and every engine token must stay within that tolerance of
  the reference argmax when the reference is fed the engine's own sequence.
KL(reference || engine) of the next-token distributions is reported for all.

Also, stated bounds on what the approximations cost (prefill logits; measured ranges
on 16 (bf16/f16) or 8 (--quantization) random 64-token prompts per case in brackets):
  rounding (bf16 / f16 formats): the default engine vs the exact reference: mean KL
    <= 2e-3, top-1 >= 85% [bf16: KL <= 7.6e-4, top-1 >= 90.6%; f16 (bf16 KV only):
    KL <= 2.1e-4, top-1 >= 96.9%].
  --quantization: the int8 / q4 engine vs the unquantized hf-bf16 reference (default
    dtype): int8 mean KL <= 2e-2, top-1 >= 75% [KL 0.005..0.010, top-1 84-98%]; q4
    mean KL <= 2.5, top-1 >= 10% [KL 0.6..1.2, top-1 23-52%]. These random Gaussian
    weights are a worst case for 4 bits (logits of std 4 over 150k tokens; unrelated
    weights give KL ~15, top-1 0); the perplexity bounds on stories260K (tests/cli) are
    the real-model figure.
  --quantization, bit-exactness (not llama, whose GGUF Q/K rows are permuted): the
    engine's prefill logits equal, bit for bit, those of the same quantization written
    as a GGUF by gen_model (q8_0/q4_0 projections, q8_0 output.weight, bf16 embedding):
    the engine's load-time quantizer makes ggml's reference blocks.

Usage:
  run_reference.py --sglc build/sglc --work build/reference-models [--case llama ...]
  run_reference.py --selftest          (generator/reference checks; no sglc needed)
Prints one line per check and closes with 'N passed, N failed'; exit 1 on failure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)
import gen_model  # noqa: E402
import torch_ref  # noqa: E402

N_PROMPT = 64
N_GEN = 32
ENGINE_TIMEOUT_S = 60   # one engine run on a tiny model takes a few seconds
CASE_BUDGET_S = 270     # stop a case before CTest's 300 s timeout kills it silently

LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 64}
YARN_SCALING = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}
LINEAR_SCALING = {"rope_type": "linear", "factor": 2.0}

# The scaled cases use a short original context so that the scaling changes the
# frequencies that 96 positions exercise; max_position_embeddings = factor * original.
CASES = {
    "llama": dict(arch="llama", seed=11, rope_scaling=LLAMA3_SCALING, max_position_embeddings=512, tie=False),
    "qwen2": dict(arch="qwen2", seed=12, rope_scaling=YARN_SCALING, max_position_embeddings=256, tie=True),
    "qwen3": dict(arch="qwen3", seed=13, tie=True),
    # untied, MQA (1 KV head), 3 layers, linear scaling, head_dim 16 (= 64/4)
    "qwen3_mqa": dict(arch="qwen3", seed=14, rope_scaling=LINEAR_SCALING, tie=False, layers=3, kv_heads=1,
                      head_dim=16),
}

# "BASE+Q": the BASE checkpoint loaded with `--quantization Q`.
FORMATS = ["hf-f32", "hf-bf16", "gguf-f32", "gguf-f16", "gguf-bf16", "gguf-q8_0", "gguf-q4_0", "hf-bf16+int8",
           "hf-bf16+q4"]
# Formats each case runs by default (--formats all runs every format everywhere): every
# format for llama (the permuted GGUF layout) and qwen3; a spread for the variants, to
# keep the suite within ~3 minutes on 2 cores.
CASE_FORMATS = {
    "llama": FORMATS,
    "qwen3": FORMATS,
    "qwen2": ["hf-f32", "hf-bf16", "gguf-f32", "gguf-q8_0", "hf-bf16+int8"],
    "qwen3_mqa": ["hf-f32", "hf-bf16", "gguf-f16", "gguf-q4_0", "hf-bf16+q4"],
}
# max |logit diff| where nothing is rounded (bf16/f16 formats: --dtype float32)
ABS_TOL = {"hf-f32": 1e-4, "gguf-f32": 1e-4, "hf-bf16": 2e-2, "gguf-f16": 2e-2, "gguf-bf16": 2e-2}
# Formats whose default numerics round to bf16 (bf16: matmul inputs and KV cache; f16: KV cache)
BF16_FORMATS = ("hf-bf16", "gguf-bf16")
ROUNDED_FORMATS = BF16_FORMATS + ("gguf-f16",)
ROUNDED_MAX_REL = 0.08    # max |diff| / rms(reference logits)
ROUNDED_RMS_REL = 0.008   # rms(diff) / rms(reference logits)
QUANT_FORMATS = ("gguf-q8_0", "gguf-q4_0", "hf-bf16+int8", "hf-bf16+q4")
QUANT_MAX_REL = 0.25   # max |diff| / rms(reference logits)
QUANT_RMS_REL = 0.03   # rms(diff) / rms(reference logits)
QUANT_MAX_KL = 1e-2
QUANT_MIN_TOP1 = 0.90
ROUNDED_EXACT_MAX_KL = 2e-3   # rounded formats' default engine vs the exact reference
ROUNDED_EXACT_MIN_TOP1 = 0.85
QUALITY_MAX_KL = {"int8": 2e-2, "q4": 2.5}   # --quantization engine vs the unquantized bf16 reference
QUALITY_MIN_TOP1 = {"int8": 0.75, "q4": 0.10}


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def report(self, ok, what, detail):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'PASS' if ok else 'FAIL'} {what}: {detail}", flush=True)


# --------------------------------------------------------------------------
# Models


def split_format(fmt):
    """("hf-bf16", "int8") for "hf-bf16+int8"; (fmt, None) for a plain format."""
    base, _, quant = fmt.partition("+")
    return base, quant or None


def make_models(name, case, work, formats):
    """Writes the case's checkpoints; returns {format: path} (BASE+Q formats share BASE's)."""
    c = dict(case)
    spec = gen_model.build_spec(c.pop("arch"), "tiny", seed=c.pop("seed"), **c)
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    paths = {}
    for fmt in formats:
        base, _ = split_format(fmt)
        if base not in paths:
            kind, t = base.split("-")
            if kind == "hf":
                p = os.path.join(d, f"hf-{t}")
                gen_model.write_hf(spec, p, t)
            else:
                p = os.path.join(d, f"model-{t}.gguf")
                gen_model.write_gguf(spec, p, t, "f32")
            paths[base] = p
        paths[fmt] = paths[base]
    return spec, paths


def write_quantized_gguf(spec, path, quant):
    """The hf-bf16 checkpoint as `--quantization quant` converts it, written as a GGUF by
    gen_model's quantizers: bf16-rounded weights, projections q8_0 (int8) or q4_0 (q4), LM head
    q8_0 as an explicit output.weight (also when tied), embedding bf16."""
    types = {"token_embd.weight": "bf16", "output.weight": "q8_0"}
    gen_model.write_gguf(spec, path, "q8_0" if quant == "int8" else "q4_0", "bf16", types=types, untie=True)


def prompt_ids(spec, seed):
    """64 deterministic ids from the tokenizer's ordinary vocabulary (no added tokens)."""
    hi = len(spec.tok.vocab) if spec.tok is not None else spec.cfg["vocab_size"]
    return [int(x) for x in np.random.default_rng(seed).integers(0, hi, N_PROMPT)]


# --------------------------------------------------------------------------
# Engine


def run_engine(args, timeout=ENGINE_TIMEOUT_S):
    t0 = time.time()
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout}s: {' '.join(args)}", time.time() - t0
    if p.returncode != 0:
        tail = p.stderr.decode(errors="replace").strip().splitlines()[-5:]
        return None, f"exit {p.returncode}: {' | '.join(tail)}", time.time() - t0
    return p.stdout.decode(errors="replace"), None, time.time() - t0


def engine_flags(quant=None, dtype=None):
    """Extra sglc options: --quantization quant, --dtype dtype (each when given)."""
    return (["--quantization", quant] if quant else []) + (["--dtype", dtype] if dtype else [])


def engine_logits(sglc, model, ids, mode, threads, scratch, vocab, flags=()):
    out = os.path.join(scratch, f"logits-{mode}.f32")
    if os.path.exists(out):
        os.remove(out)
    _, err, dt = run_engine([sglc, "logits", "--model-path", model, "--input-ids", ",".join(map(str, ids)),
                             "--output", out, "--mode", mode, "--threads", str(threads)] + list(flags))
    if err:
        return None, err, dt
    if not os.path.isfile(out):
        return None, "no output file written", dt
    a = np.fromfile(out, dtype="<f4")
    os.remove(out)
    if a.size != len(ids) * vocab:
        return None, f"output has {a.size} floats, expected {len(ids)} x {vocab}", dt
    return a.reshape(len(ids), vocab), None, dt


def engine_generate(sglc, model, ids, threads, flags=()):
    out, err, dt = run_engine([sglc, "generate", "--model-path", model, "--input-ids", ",".join(map(str, ids)),
                               "--max-new-tokens", str(N_GEN), "--temperature", "0", "--ignore-eos", "--json",
                               "--threads", str(threads)] + list(flags))
    if err:
        return None, err, dt
    obj = None
    for text in [out.strip()] + [ln for ln in reversed(out.strip().splitlines()) if ln.startswith("{")]:
        try:
            obj = json.loads(text)
            break
        except json.JSONDecodeError:
            continue
    if not isinstance(obj, dict):
        return None, f"stdout is not one JSON object: {out[:200]!r}", dt
    return obj, None, dt


# --------------------------------------------------------------------------
# Comparisons


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def tolerances(fmt, ref_logits, exact=False):
    """{max, rms, kl, top1} limits for a format (None: not checked); exact: a bf16/f16 format
    run with --dtype float32 (no rounding)."""
    s = float(np.sqrt(np.mean(ref_logits ** 2)))
    if fmt in QUANT_FORMATS:
        return dict(max=QUANT_MAX_REL * s, rms=QUANT_RMS_REL * s, kl=QUANT_MAX_KL, top1=QUANT_MIN_TOP1)
    if fmt in ROUNDED_FORMATS and not exact:
        return dict(max=ROUNDED_MAX_REL * s, rms=ROUNDED_RMS_REL * s, kl=None, top1=None)
    return dict(max=ABS_TOL[fmt], rms=None, kl=None, top1=None)


def compare_logits(ref, ref_logp, eng, tol):
    """ref: reference logits, ref_logp: their log_softmax, eng: engine logits ([T, vocab])."""
    if not np.isfinite(eng).all():
        return False, f"NON-FINITE engine logits ({int((~np.isfinite(eng)).sum())} values)"
    diff = np.abs(ref - eng)
    maxd = float(diff.max())
    rmsd = float(np.sqrt(np.mean(diff ** 2)))
    top1 = float((ref.argmax(-1) == eng.argmax(-1)).mean())
    kl = float((np.exp(ref_logp) * (ref_logp - log_softmax(eng))).sum(-1).mean())
    ok = tol["max"] is None or maxd <= tol["max"]
    ok = ok and (tol["rms"] is None or rmsd <= tol["rms"])
    ok = ok and (tol["kl"] is None or kl <= tol["kl"])
    ok = ok and (tol["top1"] is None or top1 >= tol["top1"])

    def lim(key, op):
        return f" ({op} {tol[key]:.3g})" if tol[key] is not None else ""

    detail = (f"max_abs_diff={maxd:.3g}{lim('max', '<=')} rms_diff={rmsd:.3g}{lim('rms', '<=')} "
              f"top1={top1:.3f}{lim('top1', '>=')} kl={kl:.3g}{lim('kl', '<=')}")
    return ok, detail


def check_greedy(model, prompt, ref_ids, ref_steps, eng_ids, tol):
    """(ok, detail): exact match, or a divergence at a reference near-tie with every engine
    token within tol of the reference argmax on the engine's own sequence."""
    if not isinstance(eng_ids, list) or len(eng_ids) != N_GEN or not all(isinstance(t, int) for t in eng_ids):
        return False, f"output_ids is not a list of {N_GEN} ints: {str(eng_ids)[:120]}"
    same = 0
    while same < N_GEN and eng_ids[same] == ref_ids[same]:
        same += 1
    if same == N_GEN:
        return True, f"{N_GEN}/{N_GEN} tokens identical"
    srt = np.sort(ref_steps[same])
    margin = float(srt[-1] - srt[-2])
    tf = model.logits(prompt + eng_ids[:-1])[len(prompt) - 1:]
    worst = float(max(tf[i].max() - tf[i][t] for i, t in enumerate(eng_ids)))
    ok = margin <= tol and worst <= tol
    return ok, (f"identical for {same}/{N_GEN} tokens; at step {same} reference top-2 margin {margin:.3g} "
                f"(near tie if <= {tol:.3g}); worst engine-token deficit vs reference argmax {worst:.3g}")


def closeness(eng, ref_logits, ex_logits):
    """(ok, detail): the engine's logits lie nearer the rounding reference than the exact one (rms)."""
    to_ref = float(np.sqrt(np.mean((eng - ref_logits) ** 2)))
    to_exact = float(np.sqrt(np.mean((eng - ex_logits) ** 2)))
    return to_ref < to_exact, (f"rms(engine - rounding reference) {to_ref:.3g} < rms(engine - exact reference) "
                               f"{to_exact:.3g}")


def check_variant(what, sglc, path, prompt, threads, scratch, vocab, flags, ref_logits, tol, ex_logits, res):
    """One engine prefill with extra flags against ref_logits within tol, and (ex_logits given)
    nearer ref_logits than ex_logits."""
    eng, err, dt = engine_logits(sglc, path, prompt, "prefill", threads, scratch, vocab, flags)
    if err:
        res.report(False, what, err)
        return
    ok, detail = compare_logits(ref_logits, log_softmax(ref_logits), eng, tol)
    if ex_logits is not None:
        ok2, detail2 = closeness(eng, ref_logits, ex_logits)
        ok, detail = ok and ok2, f"{detail}; {detail2}"
    res.report(ok, what, f"{detail} [{dt:.1f}s]")


def check_rounding(name, fmt, first_bf16, sglc, path, prompt, threads, scratch, vocab, ref_logits, eng_logits,
                   res):
    """bf16 / f16 formats (the engine rounds matmul inputs and/or the KV cache to bf16), against
    the exact reference (unrounded inputs, f32 KV): the default engine's logits (eng_logits:
    {mode: logits}) must lie nearer the rounding reference (ref_logits) than the exact one (it
    does round, whatever the near-tie flips), and its prefill logits within loose KL / top-1
    bounds of the exact one (the cost of rounding); `--dtype float32` (exact inputs, f32 KV)
    must match the exact reference within ABS_TOL; for the case's first bf16 format,
    `--kv-cache-dtype float32` (bf16 inputs only) must match its reference within the
    rounded-format bounds and lie nearer it than the exact one."""
    ex_logits = torch_ref.engine_model(path, torch.float64, "float32").logits(prompt)
    ex_logp = log_softmax(ex_logits)
    for mode, eng in eng_logits.items():
        ok, detail = closeness(eng, ref_logits, ex_logits)
        res.report(ok, f"{name} {fmt} logits-{mode} rounds", detail)
    if "prefill" in eng_logits:
        tol = dict(max=None, rms=None, kl=ROUNDED_EXACT_MAX_KL, top1=ROUNDED_EXACT_MIN_TOP1)
        ok, detail = compare_logits(ex_logits, ex_logp, eng_logits["prefill"], tol)
        res.report(ok, f"{name} {fmt} logits-prefill cost vs exact", detail)
    check_variant(f"{name} {fmt} logits-prefill --dtype float32 vs exact", sglc, path, prompt, threads, scratch,
                  vocab, engine_flags(dtype="float32"), ex_logits, tolerances(fmt, ex_logits, exact=True), None,
                  res)
    if first_bf16:
        kv32 = torch_ref.engine_model(path, torch.float64, "auto", None, "float32").logits(prompt)
        check_variant(f"{name} {fmt} logits-prefill --kv-cache-dtype float32", sglc, path, prompt, threads,
                      scratch, vocab, ["--kv-cache-dtype", "float32"], kv32, tolerances(fmt, kv32), ex_logits, res)


def check_kv_bf16(name, fmt, sglc, path, prompt, threads, scratch, vocab, ref_logits, res):
    """An f32 format with `--kv-cache-dtype bfloat16` against its reference (exact inputs, bf16
    keys/values) within the rounded-format bounds, nearer it than the exact one (ref_logits)."""
    kv16 = torch_ref.engine_model(path, torch.float64, "auto", None, "bfloat16").logits(prompt)
    check_variant(f"{name} {fmt} logits-prefill --kv-cache-dtype bfloat16", sglc, path, prompt, threads, scratch,
                  vocab, ["--kv-cache-dtype", "bfloat16"], kv16, tolerances("gguf-bf16", kv16), ref_logits, res)


def check_quant_quality(name, fmt, spec, sglc, path, prompt, threads, scratch, vocab, prefill, res):
    """BASE+Q formats: the quantized engine's prefill logits against the unquantized model's
    reference (the cost of the quantization: KL / top-1 bounds), and, where the engine's output
    does not depend on the layout (not llama: its GGUF Q/K rows are permuted), bit-identical
    logits from the same quantization written by gen_model as a GGUF file."""
    base, quant = split_format(fmt)
    if prefill is None:
        return
    full = torch_ref.engine_model(path, torch.float64, "auto")
    full_logits = full.logits(prompt)
    tol = dict(max=None, rms=None, kl=QUALITY_MAX_KL[quant], top1=QUALITY_MIN_TOP1[quant])
    ok, detail = compare_logits(full_logits, log_softmax(full_logits), prefill, tol)
    res.report(ok, f"{name} {fmt} quality vs {base} reference", detail)
    if spec.arch == "llama":
        return
    what = f"{name} {fmt} logits-prefill == gen_model GGUF"
    gg = os.path.join(scratch, f"{quant}.gguf")
    write_quantized_gguf(spec, gg, quant)
    eng, err, dt = engine_logits(sglc, gg, prompt, "prefill", threads, scratch, vocab)
    os.remove(gg)
    if err:
        res.report(False, what, err)
        return
    diff = float(np.abs(eng - prefill).max())
    res.report(diff == 0.0, what, f"max |diff| {diff:.3g} (must be 0: the same Q8_0/Q4_0 blocks) [{dt:.1f}s]")


def run_case(name, sglc, work, threads, mt_threads, formats, keep, res):
    case = CASES[name]
    t0 = time.time()
    spec, paths = make_models(name, case, work, formats)
    print(f"# case {name}: {case['arch']} hidden {spec.cfg['hidden_size']} layers {spec.cfg['num_hidden_layers']} "
          f"heads {spec.n_heads}/{spec.n_kv} head_dim {spec.head_dim} vocab {spec.cfg['vocab_size']} "
          f"tied {spec.cfg['tie_word_embeddings']} rope_scaling {json.dumps(spec.cfg['rope_scaling'])} "
          f"(models written in {time.time() - t0:.1f}s)", flush=True)
    prompt = prompt_ids(spec, 1000 + case["seed"])
    vocab = spec.cfg["vocab_size"]
    failed_before = res.failed
    scratch = tempfile.mkdtemp(prefix="sglc-ref-")
    try:
        for fmt in formats:
            if time.time() - t0 > CASE_BUDGET_S:
                res.report(False, f"{name} {fmt}", f"not run: the case used up its {CASE_BUDGET_S}s budget")
                continue
            path = paths[fmt]
            quant = split_format(fmt)[1]
            flags = engine_flags(quant)
            t_ref = time.time()
            ref = torch_ref.engine_model(path, torch.float64, "auto", quant)
            ref_logits = ref.logits(prompt)
            ref_logp = log_softmax(ref_logits)
            ref_ids, ref_steps = ref.greedy(prompt, N_GEN)
            print(f"# {name} {fmt}: reference computed in {time.time() - t_ref:.1f}s", flush=True)
            tol = tolerances(fmt, ref_logits)
            runs = [("prefill", threads), ("decode", threads)]
            if fmt == formats[0] and mt_threads > 1:
                runs.append(("prefill", mt_threads))  # the kernels' (ith, nth) partitioning
            eng_logits = {}  # mode -> the engine's logits (single-threaded runs)
            for mode, n_th in runs:
                what = f"{name} {fmt} logits-{mode}" + (f" threads={n_th}" if n_th != threads else "")
                eng, err, dt = engine_logits(sglc, path, prompt, mode, n_th, scratch, vocab, flags)
                if err:
                    res.report(False, what, err)
                    continue
                if n_th == threads:
                    eng_logits[mode] = eng
                ok, detail = compare_logits(ref_logits, ref_logp, eng, tol)
                res.report(ok, what, f"{detail} [{dt:.1f}s]")
            if fmt in ROUNDED_FORMATS:
                check_rounding(name, fmt, fmt == next((f for f in formats if f in BF16_FORMATS), None),
                               sglc, path, prompt, threads, scratch, vocab, ref_logits, eng_logits, res)
            if fmt == next((f for f in formats if f.endswith("-f32")), None):
                check_kv_bf16(name, fmt, sglc, path, prompt, threads, scratch, vocab, ref_logits, res)
            if quant:
                check_quant_quality(name, fmt, spec, sglc, path, prompt, threads, scratch, vocab,
                                    eng_logits.get("prefill"), res)
            what = f"{name} {fmt} generate"
            obj, err, dt = engine_generate(sglc, path, prompt, threads, flags)
            if err:
                res.report(False, what, err)
                continue
            missing = [k for k in ("output_ids", "text", "prefill_tokens_per_s", "decode_tokens_per_s")
                       if k not in obj]
            if missing:
                res.report(False, what, f"JSON lacks {missing}")
                continue
            ok, detail = check_greedy(ref, prompt, ref_ids, ref_steps, obj["output_ids"], tol["max"])
            speed = f"prefill {obj['prefill_tokens_per_s']} tok/s, decode {obj['decode_tokens_per_s']} tok/s"
            res.report(ok, what, f"{detail} [{speed}; {dt:.1f}s]")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if res.failed == failed_before and not keep:
        shutil.rmtree(os.path.join(work, name), ignore_errors=True)
    print(f"# case {name} done in {time.time() - t0:.1f}s", flush=True)


# --------------------------------------------------------------------------
# Self-test of the generator and the reference (no engine)


def selftest(work, res):
    d = tempfile.mkdtemp(prefix="sglc-ref-selftest-", dir=work)
    try:
        _selftest(d, res)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _files_equal(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def _selftest(d, res):
    # 1. Determinism: same seed -> same bytes; other seed -> other bytes; shards hold the same tensors.
    spec = gen_model.build_spec("qwen3", "tiny", seed=5, vocab_size=None)
    gen_model.write_hf(spec, os.path.join(d, "a"), "bf16")
    gen_model.write_hf(spec, os.path.join(d, "b"), "bf16")
    gen_model.write_hf(spec, os.path.join(d, "s"), "bf16", shards=3)
    spec6 = gen_model.build_spec("qwen3", "tiny", seed=6)
    gen_model.write_hf(spec6, os.path.join(d, "c"), "bf16")
    st = "model.safetensors"
    res.report(_files_equal(os.path.join(d, "a", st), os.path.join(d, "b", st)), "selftest determinism",
               "same seed gives identical model.safetensors")
    res.report(not _files_equal(os.path.join(d, "a", st), os.path.join(d, "c", st)), "selftest seed",
               "another seed gives other weights")
    _, wa = torch_ref.load_hf(os.path.join(d, "a"))
    _, ws = torch_ref.load_hf(os.path.join(d, "s"))
    res.report(wa.keys() == ws.keys() and all(np.array_equal(wa[k], ws[k]) for k in wa), "selftest shards",
               f"3 shards hold the same {len(wa)} tensors")
    nonfinite = [k for k, v in wa.items() if not np.isfinite(v).all()]
    res.report(not nonfinite, "selftest finite", f"bf16 weights finite ({len(wa)} tensors)")
    res.report(len(wa) == len(spec.tensors()) and "lm_head.weight" not in wa, "selftest tensor list",
               f"{len(wa)} tensors, tied (no lm_head)")

    # 2. GGUF f32 export holds exactly the HF weights (after un-permuting llama Q/K), same hyper-parameters,
    #    and the same RoPE frequencies (llama3 via rope_freqs.weight, yarn/linear via rope.scaling.*).
    for name in CASES:
        c = dict(CASES[name])
        sp = gen_model.build_spec(c.pop("arch"), "tiny", seed=c.pop("seed"), **c)
        hf = os.path.join(d, f"{name}-hf")
        gg = os.path.join(d, f"{name}.gguf")
        gen_model.write_hf(sp, hf, "f32")
        gen_model.write_gguf(sp, gg, "f32", "f32")
        cfg_h, w_h = torch_ref.load_hf(hf)
        cfg_g, w_g = torch_ref.load_gguf(gg)
        same_w = w_h.keys() == w_g.keys() and all(np.array_equal(w_h[k], w_g[k]) for k in w_h)
        keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                "intermediate_size", "max_position_embeddings", "tie_word_embeddings", "attention_bias"]
        bad = [k for k in keys if cfg_h[k] != cfg_g[k]]
        bad += [k for k in ("rms_norm_eps", "rope_theta") if abs(cfg_h[k] - cfg_g[k]) > 1e-6 * abs(cfg_h[k])]
        fh, ah = torch_ref.rope_inv_freq(cfg_h)
        fg, ag = torch_ref.rope_inv_freq(cfg_g)
        rope_err = float(np.max(np.abs(fh - fg) / fh))
        ok = same_w and not bad and rope_err < 1e-6 and abs(ah - ag) < 1e-6
        res.report(ok, f"selftest gguf-f32 {name}", f"weights identical={same_w} config mismatches={bad} "
                   f"rope inv_freq rel err={rope_err:.2g} attn_factor {ah:.4f}/{ag:.4f}")
        if torch_ref.rope_type(cfg_h) != "default":
            plain = dict(cfg_h, rope_scaling=None)
            f0, _ = torch_ref.rope_inv_freq(plain)
            changed = int(np.sum(np.abs(fh - f0) > 1e-9 * f0))
            res.report(changed > 0, f"selftest rope {name}",
                       f"{torch_ref.rope_type(cfg_h)} scaling changes {changed}/{len(fh)} frequencies")
        m_h = torch_ref.Model(cfg_h, w_h)
        m_g = torch_ref.Model(cfg_g, w_g)
        ids = list(range(100, 140))
        diff = float(np.abs(m_h.logits(ids) - m_g.logits(ids)).max())
        # llama3 scaling reaches the GGUF as float32 rope_freqs factors, hence a tiny difference there
        lim = 1e-4 if "rope_freq_factors" in cfg_g else 0.0
        res.report(diff <= lim, f"selftest gguf-f32 forward {name}", f"max logit diff {diff:.3g} (limit {lim:g})")

    # 3. The llama permutation: interleaved-pair RoPE on the GGUF rows == rotate_half RoPE on the HF rows.
    rng = np.random.default_rng(0)
    n_head, hd, hidden, t = 2, 8, 16, 5
    w = rng.standard_normal((n_head * hd, hidden))
    x = rng.standard_normal((t, hidden))
    ang = np.arange(t)[:, None] * (1.0 / 10000 ** (np.arange(0, hd, 2) / hd))[None, :]
    q = (x @ w.T).reshape(t, n_head, hd)
    cos, sin = np.cos(np.concatenate([ang, ang], 1))[:, None], np.sin(np.concatenate([ang, ang], 1))[:, None]
    q_hf = q * cos + np.concatenate([-q[..., hd // 2:], q[..., :hd // 2]], -1) * sin
    qp = (x @ gen_model.llama_permute(w, n_head).T).reshape(t, n_head, hd)
    even, odd = qp[..., 0::2], qp[..., 1::2]
    c2, s2 = np.cos(ang)[:, None], np.sin(ang)[:, None]
    q_gg = np.empty_like(qp)
    q_gg[..., 0::2] = even * c2 - odd * s2
    q_gg[..., 1::2] = even * s2 + odd * c2
    q_back = gen_model.llama_unpermute(q_gg.reshape(t, -1).T, n_head).T.reshape(t, n_head, hd)
    err = float(np.abs(q_back - q_hf).max())
    res.report(err < 1e-12, "selftest llama permute", f"interleaved RoPE on permuted rows == rotate_half, err {err:.2g}")

    # 4. Quantizers: hand-checked blocks and error bounds.
    blk = np.arange(32, dtype=np.float32) - 12.0  # amax 19 -> d = 19/127
    q8 = gen_model.quantize_q8_0(blk)
    d8 = np.float32(19) / np.float32(127)
    exp_q8 = np.sign(blk / d8) * np.floor(np.abs((blk * (np.float32(1) / d8)).astype(np.float64)) + 0.5)
    ok = q8["d"][0] == np.float16(d8) and np.array_equal(q8["qs"][0], exp_q8.astype(np.int8)) \
        and q8["qs"][0][31] == 127 and q8["qs"][0][12] == 0
    half = np.zeros(32, np.float32)
    half[0], half[1], half[2] = 127.0, 0.5, -0.5  # d = 1: 0.5 -> 1, -0.5 -> -1 (half away from zero)
    qh = gen_model.quantize_q8_0(half)["qs"][0]
    ok = ok and qh[1] == 1 and qh[2] == -1
    res.report(bool(ok), "selftest q8_0", f"block d={float(q8['d'][0]):.6g} q[31]={q8['qs'][0][31]} "
               f"round-half-away {qh[1]}/{qh[2]}")
    blk4 = np.linspace(-1.0, 2.0, 32).astype(np.float32)  # max |x| = 2.0 -> d = -0.25, q = x/-0.25 + 8.5
    q4 = gen_model.quantize_q4_0(blk4)
    vals = np.minimum(15, np.trunc(blk4 * np.float32(-4.0) + np.float32(8.5))).astype(np.uint8)
    exp4 = vals[:16] | (vals[16:] << 4)
    ok4 = q4["d"][0] == np.float16(-0.25) and np.array_equal(q4["qs"][0], exp4) \
        and q4["qs"][0][0] == 12 | (6 << 4) and q4["qs"][0][15] == vals[15]  # x0=-1 -> 12, x16=0.548 -> 6, x31=2 -> 0
    res.report(bool(ok4), "selftest q4_0", f"block d={float(q4['d'][0])} packed {q4['qs'][0][:4].tolist()}...")
    x = np.random.default_rng(1).standard_normal(32 * 4096).astype(np.float32)
    # |x - deq| <= d/2 (q4_0: d where the top value clamps to 15), plus |q| * the f16 rounding of d
    for t_name, qf, gt, bound in (("q8_0", gen_model.quantize_q8_0, gen_model.GGML_Q8_0, 0.5 + 127 * 2.0 ** -11),
                                  ("q4_0", gen_model.quantize_q4_0, gen_model.GGML_Q4_0, 1.0 + 8 * 2.0 ** -11)):
        blocks = qf(x)
        y = gen_model.dequantize_blocks(blocks.tobytes(), gt, x.size)
        dd = np.abs(blocks["d"].astype(np.float32)).repeat(32)
        rel = float(np.max(np.abs(x - y) / np.maximum(dd, 1e-30)))
        res.report(rel <= bound, f"selftest {t_name} error", f"max |x - deq| = {rel:.3f} d (bound {bound:.3f} d)")

    # The reference's activation rounding ("q8_0" mode) is the numpy q8_0 quantizer's round trip.
    xa = np.random.default_rng(2).standard_normal((8, 64)).astype(np.float32)
    via_np = gen_model.dequantize_blocks(gen_model.quantize_q8_0(xa).tobytes(), gen_model.GGML_Q8_0, xa.size)
    via_torch = torch_ref.Model.act_roundtrip(torch.from_numpy(xa).double(), "q8_0").numpy().reshape(-1)
    via_f32 = torch_ref.Model.act_roundtrip(torch.from_numpy(xa).double(), "q8_f32").numpy().reshape(-1)
    e1 = float(np.abs(via_np - via_torch).max())
    e2 = float(np.abs(via_f32 - xa.reshape(-1)).max() / np.abs(xa).max())
    res.report(e1 == 0.0 and 0 < e2 <= 0.5 / 127 + 1e-6, "selftest activation rounding",
               f"q8_0 mode == numpy q8_0 round trip (diff {e1}); q8_f32 rel err {e2:.3g} <= 1/254")

    # bf16 mode: torch's f32 -> bf16 conversion is gen_model's round to nearest even, exact ties included.
    xb = np.random.default_rng(3).standard_normal(4096).astype(np.float32)
    ties = (gen_model.f32_to_bf16_bits(xb[:64]).astype(np.uint32) << 16 | 0x8000).view(np.float32)
    xb = np.concatenate([xb, ties])
    via_t = torch_ref.Model.act_roundtrip(torch.from_numpy(xb).double(), "bf16").numpy()
    via_n = gen_model.round_to_dtype(xb, "bf16")
    n_even = int(np.sum((gen_model.f32_to_bf16_bits(ties) & 1) == 0))
    res.report(np.array_equal(via_t, via_n) and n_even == 64, "selftest bf16 rounding",
               f"bf16 mode == numpy RNE on {xb.size} values incl. 64 exact ties (all to even: {n_even == 64})")

    # 4b. --quantization in the reference: which weights convert to what (tied qwen3; down_proj rows of
    #     80 values are not whole blocks and stay bf16).
    spq = gen_model.build_spec("qwen3", "tiny", seed=7, intermediate_size=80)
    gen_model.write_hf(spq, os.path.join(d, "q"), "bf16")
    dts = {}
    cfg_q, w_q = torch_ref.load_hf(os.path.join(d, "q"), dts)
    qkey, dkey, ekey = ("model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight",
                        "model.embed_tokens.weight")
    for quant, layer_t in (("int8", "q8_0"), ("q4", "q4_0")):
        c2, w2, t2 = torch_ref.engine_weights(cfg_q, w_q, dts, quant)
        modes = torch_ref.engine_act_modes(c2, w2, t2)
        modes32 = torch_ref.engine_act_modes(c2, w2, t2, "float32")
        ok = (np.array_equal(w2[qkey], torch_ref.quantize_dequantize(w_q[qkey], layer_t))
              and not np.array_equal(w2[qkey], w_q[qkey]) and t2[qkey] == layer_t
              and np.array_equal(w2["lm_head.weight"], torch_ref.quantize_dequantize(w_q[ekey], "q8_0"))
              and not c2["tie_word_embeddings"] and np.array_equal(w2[ekey], w_q[ekey])
              and np.array_equal(w2[dkey], w_q[dkey]) and t2[dkey] == "bf16"
              and modes[qkey] == modes["lm_head.weight"] == "q8_f32" and modes[dkey] == "bf16"
              and modes32[dkey] is None and modes32[qkey] == "q8_f32" and "lm_head.weight" not in w_q)
        res.report(bool(ok), f"selftest --quantization {quant}",
                   f"projections {layer_t}, tied LM head a q8_0 copy, embedding and 80-wide down_proj kept bf16 "
                   f"(inputs bf16, or exact under --dtype float32)")
        # The GGUF the suite compares the engine with bit for bit holds the same values (its 80-wide
        # down_proj falls back to f16, as llama.cpp's converter does, so it is left out here).
        gq = os.path.join(d, f"q-{quant}.gguf")
        write_quantized_gguf(spq, gq, quant)
        dtg = {}
        _, wg = torch_ref.load_gguf(gq, dtg)
        keys = [k for k in w2 if ".mlp.down_proj." not in k]
        same = wg.keys() == w2.keys() and all(np.array_equal(wg[k], w2[k]) for k in keys) and \
            all(dtg[k] == t2[k] for k in keys if w2[k].ndim == 2)  # norms: f32 in GGUF
        res.report(same, f"selftest --quantization {quant} gguf",
                   f"write_quantized_gguf holds the reference's {len(keys)} tensors and types")

    # 5. The reference itself against real weights: stories260K (llama2.c, GGUF) greedy from BOS.
    base = os.path.join(ROOT, "tests", "data", "models", "stories260K")
    gg = os.path.join(base, "stories260K.gguf")
    if not os.path.isfile(gg):
        res.report(False, "selftest stories260K", f"{gg} missing")
        return
    with open(os.path.join(base, "expected_greedy_ids.txt")) as f:
        expected = [int(v) for v in f.read().split()][:48]
    m = torch_ref.load_model(gg)
    got, _ = m.greedy([1], len(expected))
    same = 0
    while same < len(got) and got[same] == expected[same]:
        same += 1
    res.report(same == len(expected), "selftest stories260K",
               f"reference greedy from BOS matches {same}/{len(expected)} documented ids")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sglc", help="path to the sglc binary")
    ap.add_argument("--work", default=None, help="scratch directory for the generated models")
    ap.add_argument("--case", action="append", choices=sorted(CASES) + ["all"],
                    help="case to run (repeatable; default all)")
    ap.add_argument("--formats", default=None,
                    help="comma-separated subset of " + ",".join(FORMATS) + ", or 'all' (default: per case)")
    ap.add_argument("--threads", type=int, default=1,
                    help="engine threads for every run (default 1: robust on a busy machine)")
    ap.add_argument("--mt-threads", type=int, default=2,
                    help="threads of one extra prefill run per case (first format); 1 disables it")
    ap.add_argument("--keep", action="store_true", help="keep the generated models of passing cases")
    ap.add_argument("--selftest", action="store_true", help="check the generator and the reference only")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: more threads only add contention
    work = os.path.abspath(args.work or tempfile.gettempdir())
    os.makedirs(work, exist_ok=True)
    res = Results()
    t0 = time.time()
    if args.selftest:
        selftest(work, res)
    else:
        if not args.sglc:
            ap.error("--sglc is required (or --selftest)")
        sglc = os.path.abspath(args.sglc)
        if not os.access(sglc, os.X_OK):
            print(f"FAIL setup: sglc binary {sglc} not found or not executable")
            print("0 passed, 1 failed")
            return 1
        formats = None
        if args.formats:
            formats = FORMATS if args.formats == "all" else [f for f in args.formats.split(",") if f]
            unknown = [f for f in formats if f not in FORMATS]
            if unknown:
                ap.error(f"unknown formats {unknown}")
        cases = sorted(CASES) if not args.case or "all" in args.case else args.case
        for name in cases:
            run_case(name, sglc, work, args.threads, args.mt_threads, formats or CASE_FORMATS[name], args.keep,
                     res)
    print(f"# {time.time() - t0:.1f}s")
    print(f"{res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
