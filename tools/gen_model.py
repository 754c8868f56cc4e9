#!/usr/bin/python3
"""gen_model: deterministic random-weight checkpoints for sgl-c's tests and benchmarks.

Writes a Hugging Face style model directory (config.json, generation_config.json,
model.safetensors or sharded model-0000i-of-0000N.safetensors + index, the real
tokenizer files) and/or a GGUF v3 file holding the same weights, for the
architectures LlamaForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM.

Determinism: every tensor is drawn from its own generator seeded with
(--seed, crc32(HF tensor name)), in row chunks whose size depends only on the
tensor's shape, so one seed always gives the same bytes, whichever files are
written (HF f32/bf16/f16, GGUF of any type) and however they are sharded.

The weights of the HF checkpoint are the drawn float32 values rounded to --dtype;
the GGUF export encodes exactly those rounded values in --gguf-type (so a GGUF
f32 export of a bf16 checkpoint holds the bf16 values exactly).

Initialisation keeps a random model numerically tame and its greedy output varied:
  projections        N(0, 1/fan_in)             -> activations stay O(1) through the layers
  embed, lm_head     N(0, (0.5/sqrt(hidden))^2) -> small next to the layers' output, so a
                                                   tied model does not echo its input token
  model.norm.weight  8 * (1 + N(0, 0.1^2))      -> logits std ~4, tied or untied
  other norm weights 1 + N(0, 0.1^2)
  biases             N(0, 0.2^2)
Nothing here overflows f16/bf16.

Only numpy and the standard library are needed (Debian's /usr/bin/python3).
Usage: see tools/README.md or `gen_model.py --help`.
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys
import zlib

import numpy as np

# --------------------------------------------------------------------------
# Shapes

PRESETS = {
    # head_dim None: hidden/heads, except qwen3 where tiny uses 32 (!= 64/4) on purpose.
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 head_dim=None, intermediate_size=128, max_position_embeddings=4096),
    "qwen3-0.6b": dict(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                       head_dim=128, intermediate_size=3072, max_position_embeddings=40960,
                       vocab_size=151936, tie_word_embeddings=True),
    "qwen3-1.7b": dict(hidden_size=2048, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                       head_dim=128, intermediate_size=6144, max_position_embeddings=40960,
                       vocab_size=151936, tie_word_embeddings=True),
}

ARCHS = {
    "llama": dict(architectures="LlamaForCausalLM", model_type="llama", rope_theta=500000.0, rms_norm_eps=1e-5,
                  tie_word_embeddings=False, attention_bias=False, qk_norm=False, tokenizer="llama3"),
    "qwen2": dict(architectures="Qwen2ForCausalLM", model_type="qwen2", rope_theta=1000000.0, rms_norm_eps=1e-6,
                  tie_word_embeddings=True, attention_bias=True, qk_norm=False, tokenizer="qwen3"),
    "qwen3": dict(architectures="Qwen3ForCausalLM", model_type="qwen3", rope_theta=1000000.0, rms_norm_eps=1e-6,
                  tie_word_embeddings=True, attention_bias=False, qk_norm=True, tokenizer="qwen3"),
}

# Special tokens of each tokenizer, by content (ids are looked up in tokenizer.json).
TOKENIZERS = {
    "qwen3": dict(vocab_size=151936, pre="qwen2", add_bos=False, bos="<|endoftext|>", eos="<|im_end|>",
                  gen_eos=["<|im_end|>", "<|endoftext|>"], pad="<|endoftext|>",
                  gen=dict(do_sample=True, temperature=0.6, top_k=20, top_p=0.95)),
    "llama3": dict(vocab_size=128256, pre="llama-bpe", add_bos=True, bos="<|begin_of_text|>",
                   eos="<|end_of_text|>", gen_eos=["<|end_of_text|>"], pad=None,
                   gen=dict(do_sample=True, temperature=0.6, top_p=0.9)),
    "llama3-instruct": dict(vocab_size=128256, pre="llama-bpe", add_bos=True, bos="<|begin_of_text|>",
                            eos="<|eot_id|>", gen_eos=["<|end_of_text|>", "<|eot_id|>"], pad=None,
                            gen=dict(do_sample=True, temperature=0.6, top_p=0.9)),
}

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
CHUNK_ELEMS = 1 << 22  # values drawn per generator call
# Embeddings are kept small next to what the layers add to the residual stream, so a
# tied model does not keep predicting its current token; the final norm's gain brings
# the logits back to std ~4 (EMBED_STD * FINAL_NORM), tied or not.
EMBED_STD = 0.5   # times 1/sqrt(hidden), embedding and lm_head
FINAL_NORM = 8.0  # mean of model.norm.weight


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tokenizer_dir(name):
    """The real tokenizer files: the project's tests/data copy, else shared/testdata."""
    root = repo_root()
    for d in (os.path.join(root, "tests", "data", "tokenizers", name),
              os.path.join(root, "..", "shared", "testdata", "tokenizers", name)):
        if os.path.isfile(os.path.join(d, "tokenizer.json")):
            return os.path.normpath(d)
    raise SystemExit(f"gen_model: error: tokenizer '{name}' not found under tests/data/tokenizers "
                     f"or ../shared/testdata/tokenizers")


class Tokenizer:
    """What the checkpoint needs from a real tokenizer.json (+ tokenizer_config.json)."""

    def __init__(self, name):
        self.name = name
        self.spec = TOKENIZERS[name]
        self.dir = tokenizer_dir(name)
        with open(os.path.join(self.dir, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        cfg_path = os.path.join(self.dir, "tokenizer_config.json")
        self.config = {}
        if os.path.isfile(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                self.config = json.load(f)
        model = tj["model"]
        if model.get("type") != "BPE":
            raise SystemExit(f"gen_model: error: {name}: only BPE tokenizers are supported")
        self.vocab = model["vocab"]          # token -> id
        self.merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        self.added = tj.get("added_tokens", [])
        by_id = {i: t for t, i in self.vocab.items()}
        for a in self.added:
            by_id[a["id"]] = a["content"]
        self.by_id = by_id
        self.n_tokens = max(by_id) + 1
        self.ids = {t: i for i, t in by_id.items()}
        self.chat_template = self.config.get("chat_template")

    def token_id(self, content):
        if content is None:
            return None
        if content not in self.ids:
            raise SystemExit(f"gen_model: error: {self.name}: special token {content!r} missing")
        return self.ids[content]


# --------------------------------------------------------------------------
# Model spec and tensors


def rope_scaling_type(rs):
    if not rs:
        return None
    return rs.get("rope_type", rs.get("type"))


class Spec:
    """Hyper-parameters (HF names) plus the tensor list."""

    def __init__(self, arch, cfg, tokenizer, seed, preset):
        self.arch = arch
        self.cfg = cfg
        self.tok = tokenizer
        self.seed = seed
        self.preset = preset

    @property
    def n_heads(self):
        return self.cfg["num_attention_heads"]

    @property
    def n_kv(self):
        return self.cfg["num_key_value_heads"]

    @property
    def head_dim(self):
        return self.cfg["head_dim"]

    def tensors(self):
        """[(hf_name, shape, kind)] in checkpoint order."""
        c = self.cfg
        h, hd, inter, v = c["hidden_size"], c["head_dim"], c["intermediate_size"], c["vocab_size"]
        q_dim, kv_dim = self.n_heads * hd, self.n_kv * hd
        out = [("model.embed_tokens.weight", (v, h), "embed")]
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            out.append((p + "input_layernorm.weight", (h,), "norm"))
            out.append((p + "self_attn.q_proj.weight", (q_dim, h), "proj"))
            out.append((p + "self_attn.k_proj.weight", (kv_dim, h), "proj"))
            out.append((p + "self_attn.v_proj.weight", (kv_dim, h), "proj"))
            if c["attention_bias"]:
                out.append((p + "self_attn.q_proj.bias", (q_dim,), "bias"))
                out.append((p + "self_attn.k_proj.bias", (kv_dim,), "bias"))
                out.append((p + "self_attn.v_proj.bias", (kv_dim,), "bias"))
            out.append((p + "self_attn.o_proj.weight", (h, q_dim), "proj"))
            if self.arch == "qwen3":
                out.append((p + "self_attn.q_norm.weight", (hd,), "norm"))
                out.append((p + "self_attn.k_norm.weight", (hd,), "norm"))
            out.append((p + "post_attention_layernorm.weight", (h,), "norm"))
            out.append((p + "mlp.gate_proj.weight", (inter, h), "proj"))
            out.append((p + "mlp.up_proj.weight", (inter, h), "proj"))
            out.append((p + "mlp.down_proj.weight", (h, inter), "proj"))
        out.append(("model.norm.weight", (h,), "final_norm"))
        if not c["tie_word_embeddings"]:
            out.append(("lm_head.weight", (v, h), "lm_head"))
        return out


def tensor_chunks(spec, name, shape, kind):
    """Yields float32 row chunks of tensor `name` (deterministic in seed, name, shape)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec.seed, zlib.crc32(name.encode())])))
    cols = shape[-1]
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    h = spec.cfg["hidden_size"]
    if kind == "proj":
        std, mean = 1.0 / math.sqrt(shape[1]), 0.0
    elif kind in ("embed", "lm_head"):
        std, mean = EMBED_STD / math.sqrt(h), 0.0
    elif kind == "final_norm":
        std, mean = 0.1 * FINAL_NORM, FINAL_NORM
    elif kind == "norm":
        std, mean = 0.1, 1.0
    elif kind == "bias":
        std, mean = 0.2, 0.0
    else:
        raise ValueError(kind)
    step = max(1, CHUNK_ELEMS // cols)
    for r0 in range(0, rows, step):
        r = min(step, rows - r0)
        x = rng.standard_normal((r, cols) if len(shape) > 1 else (cols,), dtype=np.float32)
        x *= np.float32(std)
        if mean:
            x += np.float32(mean)
        yield x


# --------------------------------------------------------------------------
# Number formats


def f32_to_bf16_bits(x):
    """float32 array -> uint16 bf16 bits, round to nearest even (no NaNs expected)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    t = u >> np.uint32(16)
    t &= np.uint32(1)
    t += np.uint32(0x7FFF)
    t += u
    t >>= np.uint32(16)
    return t.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << np.uint32(16)).view(np.float32)


def round_to_dtype(x, dtype):
    """float32 values as stored in `dtype` and read back (exact)."""
    if dtype == "f32":
        return x
    if dtype == "bf16":
        return bf16_bits_to_f32(f32_to_bf16_bits(x))
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float32)
    raise ValueError(dtype)


def encode_plain(x, dtype):
    if dtype == "f32":
        return np.ascontiguousarray(x, dtype="<f4").tobytes()
    if dtype == "bf16":
        return f32_to_bf16_bits(x).astype("<u2").tobytes()
    if dtype == "f16":
        return x.astype("<f2").tobytes()
    raise ValueError(dtype)


Q8_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "i1", (32,))])
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def quantize_q8_0(x):
    """ggml's quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d). Returns the block array."""
    b = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    x0 = (b * idv[:, None]).astype(np.float64)  # the product is rounded to f32 first, as in C
    q = np.sign(x0) * np.floor(np.abs(x0) + 0.5)  # roundf: half away from zero
    out = np.empty(b.shape[0], dtype=Q8_0_BLOCK)
    out["d"] = d.astype(np.float16)
    out["qs"] = q.astype(np.int8)
    return out


def quantize_q4_0(x):
    """ggml's quantize_row_q4_0_ref: signed max-|x| value m, d = m/-8, q = min(15, (int)(x/d + 8.5))."""
    b = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, 32)
    idx = np.argmax(np.abs(b), axis=1)  # first maximum wins, as the C loop's strict '<'
    mx = b[np.arange(b.shape[0]), idx]
    d = mx / np.float32(-8)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = b * idv[:, None]
    v += np.float32(8.5)
    q = np.minimum(15, np.trunc(v).astype(np.int32)).astype(np.uint8)
    out = np.empty(b.shape[0], dtype=Q4_0_BLOCK)
    out["d"] = d.astype(np.float16)
    out["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return out


def dequantize_blocks(raw, ggml_type, n):
    """Bytes of n values of a quantized type -> float32 [n]."""
    if ggml_type == GGML_Q8_0:
        blk = np.frombuffer(raw, dtype=Q8_0_BLOCK, count=n // 32)
        return (blk["d"].astype(np.float32)[:, None] * blk["qs"].astype(np.float32)).reshape(-1)
    if ggml_type == GGML_Q4_0:
        blk = np.frombuffer(raw, dtype=Q4_0_BLOCK, count=n // 32)
        qs = blk["qs"]
        q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float32) - np.float32(8)
        return (q * blk["d"].astype(np.float32)[:, None]).reshape(-1)
    raise ValueError(ggml_type)


# --------------------------------------------------------------------------
# HF checkpoint

ST_DTYPE = {"f32": ("F32", 4), "bf16": ("BF16", 2), "f16": ("F16", 2)}
TORCH_DTYPE = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}


def write_safetensors(spec, path, entries, dtype):
    """Streams the tensors `entries` ([(name, shape, kind)]) into one safetensors file."""
    st_name, esize = ST_DTYPE[dtype]
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape, _ in entries:
        n = int(np.prod(shape)) * esize
        header[name] = {"dtype": st_name, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((-(8 + len(hb))) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, shape, kind in entries:
            for x in tensor_chunks(spec, name, shape, kind):
                f.write(encode_plain(x, dtype))
    os.replace(tmp, path)
    return off


def split_shards(entries, esize, n_shards):
    """Splits the tensor list into n_shards consecutive groups of about equal bytes."""
    sizes = [int(np.prod(s)) * esize for _, s, _ in entries]
    total = sum(sizes)
    groups, cur, acc = [], [], 0
    for e, sz in zip(entries, sizes):
        target = total * (len(groups) + 1) / n_shards
        if cur and acc + sz / 2 > target and len(groups) < n_shards - 1:
            groups.append(cur)
            cur = []
        cur.append(e)
        acc += sz
    groups.append(cur)
    while len(groups) < n_shards:
        groups.append([])
    return groups


def hf_config(spec, dtype):
    c = spec.cfg
    a = ARCHS[spec.arch]
    tok = spec.tok
    conf = {
        "architectures": [a["architectures"]],
        "model_type": a["model_type"],
        "hidden_size": c["hidden_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"],
        "head_dim": c["head_dim"],
        "intermediate_size": c["intermediate_size"],
        "hidden_act": "silu",
        "vocab_size": c["vocab_size"],
        "max_position_embeddings": c["max_position_embeddings"],
        "rms_norm_eps": c["rms_norm_eps"],
        "rope_theta": c["rope_theta"],
        "rope_scaling": c["rope_scaling"],
        "tie_word_embeddings": c["tie_word_embeddings"],
        "attention_bias": c["attention_bias"],
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": True,
        "torch_dtype": TORCH_DTYPE[dtype],
        "bos_token_id": c["bos_token_id"],
        "eos_token_id": c["eos_token_id"],
    }
    if spec.arch == "llama":
        conf["mlp_bias"] = False
        conf["pretraining_tp"] = 1
    else:
        conf["use_sliding_window"] = False
        conf["sliding_window"] = None
        conf["max_window_layers"] = c["num_hidden_layers"]
    gen = {"bos_token_id": c["bos_token_id"], "eos_token_id": c["eos_token_id"]}
    if tok is not None:
        gen["eos_token_id"] = [tok.token_id(t) for t in tok.spec["gen_eos"]]
        if len(gen["eos_token_id"]) == 1:
            gen["eos_token_id"] = gen["eos_token_id"][0]
        if tok.spec["pad"] is not None:
            gen["pad_token_id"] = tok.token_id(tok.spec["pad"])
        gen.update(tok.spec["gen"])
    gen["transformers_version"] = "4.51.0"
    return conf, gen


def write_hf(spec, out_dir, dtype, shards=1):
    os.makedirs(out_dir, exist_ok=True)
    conf, gen = hf_config(spec, dtype)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")
    entries = spec.tensors()
    # Remove checkpoint files of an earlier run with another shard count.
    for fn in os.listdir(out_dir):
        if fn.startswith("model") and (fn.endswith(".safetensors") or fn.endswith(".safetensors.index.json")):
            os.remove(os.path.join(out_dir, fn))
    if shards <= 1:
        write_safetensors(spec, os.path.join(out_dir, "model.safetensors"), entries, dtype)
    else:
        groups = split_shards(entries, ST_DTYPE[dtype][1], shards)
        weight_map, total = {}, 0
        for i, g in enumerate(groups):
            fn = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            total += write_safetensors(spec, os.path.join(out_dir, fn), g, dtype)
            for name, _, _ in g:
                weight_map[name] = fn
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
            f.write("\n")
    if spec.tok is not None:
        for fn in TOKENIZER_FILES:
            src = os.path.join(spec.tok.dir, fn)
            if os.path.isfile(src):
                shutil.copyfile(src, os.path.join(out_dir, fn))
        for fn in os.listdir(spec.tok.dir):
            if fn.startswith("LICENSE") or fn == "NOTICE":
                shutil.copyfile(os.path.join(spec.tok.dir, fn), os.path.join(out_dir, fn))


# --------------------------------------------------------------------------
# GGUF

GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30
GGUF_TYPES = {"f32": GGML_F32, "f16": GGML_F16, "bf16": GGML_BF16, "q8_0": GGML_Q8_0, "q4_0": GGML_Q4_0}
GGUF_FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "bf16": 32}  # llama_ftype
GGML_BLOCK = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_BF16: (1, 2), GGML_Q8_0: (32, 34), GGML_Q4_0: (32, 18)}
GGUF_ALIGN = 32

# GGUF metadata value types
GV_U8, GV_I8, GV_U16, GV_I16, GV_U32, GV_I32, GV_F32, GV_BOOL, GV_STR, GV_ARR, GV_U64, GV_I64, GV_F64 = range(13)
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED = 1, 3, 4, 5

HF_TO_GGUF_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".", 3)  # model, layers, N, rest
    return f"blk.{parts[2]}.{HF_TO_GGUF_LAYER[parts[3]]}"


def llama_permute(w, n_head):
    """convert_hf_to_gguf's permute: rotate-half pairs (i, i+d/2) -> adjacent pairs (2i, 2i+1)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def llama_unpermute(w, n_head):
    """Inverse of llama_permute."""
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def llama3_rope_factors(cfg):
    """llama.cpp's rope_freqs.weight for rope_type llama3: inv_freq_hf = inv_freq / factor_i."""
    rs = cfg["rope_scaling"]
    dim = cfg["head_dim"]
    base = cfg["rope_theta"]
    factor = rs.get("factor", 8.0)
    lo = rs.get("low_freq_factor", 1.0)
    hi = rs.get("high_freq_factor", 4.0)
    old = rs.get("original_max_position_embeddings", 8192)
    lo_wl, hi_wl = old / lo, old / hi
    out = []
    for i in range(0, dim, 2):
        freq = 1.0 / (base ** (i / dim))
        wl = 2 * math.pi / freq
        if wl < hi_wl:
            out.append(1.0)
        elif wl > lo_wl:
            out.append(factor)
        else:
            smooth = (old / wl - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


class GgufWriter:
    """Minimal GGUF v3 writer: metadata first, then tensor infos, then aligned data."""

    def __init__(self):
        self.kv = []

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def _value(self, vtype, v):
        if vtype == GV_STR:
            return self._str(v)
        fmt = {GV_U8: "<B", GV_I8: "<b", GV_U16: "<H", GV_I16: "<h", GV_U32: "<I", GV_I32: "<i", GV_F32: "<f",
               GV_BOOL: "<?", GV_U64: "<Q", GV_I64: "<q", GV_F64: "<d"}[vtype]
        return struct.pack(fmt, v)

    def kv_bytes(self):
        out = bytearray()
        for key, vtype, value in self.kv:
            out += self._str(key)
            if isinstance(vtype, tuple):  # (GV_ARR, elem_type)
                et = vtype[1]
                out += struct.pack("<IIQ", GV_ARR, et, len(value))
                if et == GV_STR:
                    out += b"".join(self._str(s) for s in value)
                elif et == GV_I32:
                    out += np.asarray(value, dtype="<i4").tobytes()
                elif et == GV_F32:
                    out += np.asarray(value, dtype="<f4").tobytes()
                else:
                    out += b"".join(self._value(et, x) for x in value)
            else:
                out += struct.pack("<I", vtype) + self._value(vtype, value)
        return bytes(out)


def gguf_tensor_plan(spec, gguf_type, types=None, untie=False):
    """[(gguf_name, hf_name or None, shape, kind, ggml_type)] in file order. types: optional
    {gguf_name: type name of GGUF_TYPES} overriding single tensors (a mixed-type file); untie:
    a tied spec gets an explicit output.weight holding the embedding's values."""
    qt = GGUF_TYPES[gguf_type]
    entries = list(spec.tensors())
    if untie and spec.cfg["tie_word_embeddings"]:
        embed = entries[0]
        assert embed[0] == "model.embed_tokens.weight"
        entries.append(embed)  # same hf name: the same generated values
    plan = []
    for i, (hf, shape, kind) in enumerate(entries):
        name = "output.weight" if i > 0 and hf == "model.embed_tokens.weight" else gguf_name(hf)
        if len(shape) == 1:
            t = GGML_F32  # norms and biases stay f32, as llama.cpp's converter does
        else:
            t = GGUF_TYPES[types[name]] if types and name in types else qt
            blk = GGML_BLOCK[t][0]
            if shape[-1] % blk:
                t = GGML_F16  # rows not a whole number of blocks: llama.cpp falls back as well
        plan.append((name, hf, shape, kind, t))
    if spec.arch == "llama" and rope_scaling_type(spec.cfg["rope_scaling"]) == "llama3":
        plan.append(("rope_freqs.weight", None, (spec.head_dim // 2,), "rope_freqs", GGML_F32))
    return plan


def tensor_nbytes(shape, t):
    n = int(np.prod(shape))
    blk, bsz = GGML_BLOCK[t]
    return n // blk * bsz


def encode_ggml(x, t):
    if t == GGML_F32:
        return encode_plain(x, "f32")
    if t == GGML_F16:
        return encode_plain(x, "f16")
    if t == GGML_BF16:
        return encode_plain(x, "bf16")
    if t == GGML_Q8_0:
        return quantize_q8_0(x).tobytes()
    if t == GGML_Q4_0:
        return quantize_q4_0(x).tobytes()
    raise ValueError(t)


def gguf_metadata(spec, gguf_type, w):
    c = spec.cfg
    arch = spec.arch
    w.add("general.architecture", GV_STR, arch)
    shape = spec.preset if spec.preset.startswith(arch) else f"{arch}-{spec.preset}"
    w.add("general.name", GV_STR, f"sglc-random-{shape}-seed{spec.seed}")
    w.add("general.file_type", GV_U32, GGUF_FILE_TYPE[gguf_type])
    if gguf_type in ("q8_0", "q4_0"):
        w.add("general.quantization_version", GV_U32, 2)
    w.add(f"{arch}.vocab_size", GV_U32, c["vocab_size"])
    w.add(f"{arch}.context_length", GV_U32, c["max_position_embeddings"])
    w.add(f"{arch}.embedding_length", GV_U32, c["hidden_size"])
    w.add(f"{arch}.block_count", GV_U32, c["num_hidden_layers"])
    w.add(f"{arch}.feed_forward_length", GV_U32, c["intermediate_size"])
    w.add(f"{arch}.attention.head_count", GV_U32, c["num_attention_heads"])
    w.add(f"{arch}.attention.head_count_kv", GV_U32, c["num_key_value_heads"])
    w.add(f"{arch}.attention.key_length", GV_U32, c["head_dim"])
    w.add(f"{arch}.attention.value_length", GV_U32, c["head_dim"])
    w.add(f"{arch}.attention.layer_norm_rms_epsilon", GV_F32, c["rms_norm_eps"])
    w.add(f"{arch}.rope.freq_base", GV_F32, c["rope_theta"])
    w.add(f"{arch}.rope.dimension_count", GV_U32, c["head_dim"])
    rs = c["rope_scaling"]
    rt = rope_scaling_type(rs)
    if rt == "linear":
        w.add(f"{arch}.rope.scaling.type", GV_STR, "linear")
        w.add(f"{arch}.rope.scaling.factor", GV_F32, float(rs["factor"]))
    elif rt == "yarn":
        w.add(f"{arch}.rope.scaling.type", GV_STR, "yarn")
        w.add(f"{arch}.rope.scaling.factor", GV_F32, float(rs["factor"]))
        w.add(f"{arch}.rope.scaling.original_context_length", GV_U32,
              int(rs.get("original_max_position_embeddings", c["max_position_embeddings"])))
        w.add(f"{arch}.rope.scaling.yarn_beta_fast", GV_F32, float(rs.get("beta_fast") or 32.0))
        w.add(f"{arch}.rope.scaling.yarn_beta_slow", GV_F32, float(rs.get("beta_slow") or 1.0))
        if rs.get("attention_factor") is not None:
            w.add(f"{arch}.rope.scaling.attn_factor", GV_F32, float(rs["attention_factor"]))
    # llama3 rope scaling travels as the rope_freqs.weight tensor (llama.cpp's convention).
    tok = spec.tok
    if tok is None:
        w.add("tokenizer.ggml.model", GV_STR, "none")  # llama.cpp's vocabulary-less model
        return
    v = c["vocab_size"]
    added = {a["id"]: a for a in tok.added}
    tokens, types = [], []
    for i in range(v):
        t = tok.by_id.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(TOKEN_UNUSED)
        elif i in added:
            tokens.append(t)
            types.append(TOKEN_CONTROL if added[i].get("special") else TOKEN_USER_DEFINED)
        else:
            tokens.append(t)
            types.append(TOKEN_NORMAL)
    w.add("tokenizer.ggml.model", GV_STR, "gpt2")
    w.add("tokenizer.ggml.pre", GV_STR, tok.spec["pre"])
    w.add("tokenizer.ggml.tokens", (GV_ARR, GV_STR), tokens)
    w.add("tokenizer.ggml.token_type", (GV_ARR, GV_I32), types)
    w.add("tokenizer.ggml.merges", (GV_ARR, GV_STR), tok.merges)
    w.add("tokenizer.ggml.bos_token_id", GV_U32, tok.token_id(tok.spec["bos"]))
    w.add("tokenizer.ggml.eos_token_id", GV_U32, tok.token_id(tok.spec["eos"]))
    if tok.spec["pad"] is not None:
        w.add("tokenizer.ggml.padding_token_id", GV_U32, tok.token_id(tok.spec["pad"]))
    w.add("tokenizer.ggml.add_bos_token", GV_BOOL, tok.spec["add_bos"])
    if tok.chat_template:
        w.add("tokenizer.chat_template", GV_STR, tok.chat_template)


def write_gguf(spec, path, gguf_type, dtype, types=None, untie=False):
    """Writes the checkpoint's weights (rounded to `dtype`) as GGUF `gguf_type`, streaming
    (types, untie: see gguf_tensor_plan)."""
    w = GgufWriter()
    gguf_metadata(spec, gguf_type, w)
    plan = gguf_tensor_plan(spec, gguf_type, types, untie)
    kvb = w.kv_bytes()
    infos = bytearray()
    off = 0
    offsets = []
    for name, _, shape, _, t in plan:
        off += (-off) % GGUF_ALIGN
        offsets.append(off)
        ne = list(reversed(shape))
        infos += GgufWriter._str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        infos += struct.pack("<IQ", t, off)
        off += tensor_nbytes(shape, t)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(plan), len(w.kv)) + kvb + bytes(infos)
    head += b"\0" * ((-len(head)) % GGUF_ALIGN)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        pos = 0
        for (name, hf, shape, kind, t), o in zip(plan, offsets):
            f.write(b"\0" * (o - pos))
            pos = o
            if hf is None:  # rope_freqs
                data = encode_ggml(llama3_rope_factors(spec.cfg), t)
                f.write(data)
                pos += len(data)
                continue
            permute = spec.arch == "llama" and (".q_proj." in hf or ".k_proj." in hf)
            if permute:
                x = np.concatenate([c for c in tensor_chunks(spec, hf, shape, kind)], axis=0)
                x = llama_permute(round_to_dtype(x, dtype), spec.n_heads if ".q_proj." in hf else spec.n_kv)
                chunks = [x]
            else:
                chunks = (round_to_dtype(c, dtype) for c in tensor_chunks(spec, hf, shape, kind))
            for x in chunks:
                data = encode_ggml(x, t)
                f.write(data)
                pos += len(data)
            assert pos == o + tensor_nbytes(shape, t), name
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Command line


def build_spec(arch, preset="tiny", seed=0, tokenizer="auto", hidden_size=None, layers=None, heads=None,
               kv_heads=None, head_dim=None, intermediate_size=None, vocab_size=None, rope_scaling=None,
               tie=None, rope_theta=None, max_position_embeddings=None, rms_norm_eps=None,
               attention_bias=None):
    """The model description for the given arch/preset/overrides (library entry point)."""
    if arch not in ARCHS:
        raise SystemExit(f"gen_model: error: unknown --arch {arch!r} (llama, qwen2, qwen3)")
    if preset not in PRESETS:
        raise SystemExit(f"gen_model: error: unknown --preset {preset!r} ({', '.join(PRESETS)})")
    a, p = ARCHS[arch], PRESETS[preset]
    if tokenizer == "auto":
        tokenizer = a["tokenizer"]
    tok = None if tokenizer in (None, "none") else Tokenizer(tokenizer)
    c = {
        "hidden_size": p["hidden_size"],
        "num_hidden_layers": p["num_hidden_layers"],
        "num_attention_heads": p["num_attention_heads"],
        "num_key_value_heads": p["num_key_value_heads"],
        "head_dim": p["head_dim"],
        "intermediate_size": p["intermediate_size"],
        "max_position_embeddings": p["max_position_embeddings"],
        "rms_norm_eps": a["rms_norm_eps"],
        "rope_theta": a["rope_theta"],
        "rope_scaling": None,
        "tie_word_embeddings": p.get("tie_word_embeddings", a["tie_word_embeddings"]),
        "attention_bias": a["attention_bias"],
    }
    over = {"hidden_size": hidden_size, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv_heads, "head_dim": head_dim, "intermediate_size": intermediate_size,
            "max_position_embeddings": max_position_embeddings, "rope_theta": rope_theta,
            "rms_norm_eps": rms_norm_eps, "tie_word_embeddings": tie, "attention_bias": attention_bias,
            "rope_scaling": rope_scaling}
    for k, v in over.items():
        if v is not None:
            c[k] = v
    if c["head_dim"] is None:
        c["head_dim"] = 32 if (arch == "qwen3" and preset == "tiny" and hidden_size is None and heads is None) \
            else c["hidden_size"] // c["num_attention_heads"]
    if tok is not None:
        default_vocab = max(tok.spec["vocab_size"], tok.n_tokens)
    else:
        default_vocab = p.get("vocab_size", 1024)
    c["vocab_size"] = vocab_size if vocab_size is not None else default_vocab
    if tok is not None and c["vocab_size"] < tok.n_tokens:
        raise SystemExit(f"gen_model: error: --vocab-size {c['vocab_size']} is smaller than the {tok.name} "
                         f"tokenizer ({tok.n_tokens} tokens); use --tokenizer none for an ids-only model")
    if c["num_attention_heads"] % c["num_key_value_heads"]:
        raise SystemExit("gen_model: error: --heads must be a multiple of --kv-heads")
    if c["head_dim"] % 2:
        raise SystemExit("gen_model: error: head_dim must be even")
    if tok is not None:
        c["bos_token_id"] = tok.token_id(tok.spec["bos"])
        c["eos_token_id"] = tok.token_id(tok.spec["eos"])
    else:
        c["bos_token_id"] = None
        c["eos_token_id"] = None
    rt = rope_scaling_type(c["rope_scaling"])
    if rt not in (None, "default", "linear", "llama3", "yarn"):
        raise SystemExit(f"gen_model: error: unsupported rope_scaling type {rt!r}")
    return Spec(arch, c, tok, seed, preset)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Deterministic random-weight Llama/Qwen2/Qwen3 checkpoints "
                                             "(HF safetensors directory and/or GGUF).")
    ap.add_argument("--arch", required=True, choices=sorted(ARCHS))
    ap.add_argument("--preset", default="tiny", choices=list(PRESETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden-size", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--kv-heads", type=int)
    ap.add_argument("--head-dim", type=int)
    ap.add_argument("--intermediate-size", type=int)
    ap.add_argument("--vocab-size", type=int)
    ap.add_argument("--max-position-embeddings", type=int)
    ap.add_argument("--rope-theta", type=float)
    ap.add_argument("--rms-norm-eps", type=float)
    ap.add_argument("--rope-scaling", help='JSON, e.g. \'{"rope_type":"llama3","factor":8.0,...}\'')
    ap.add_argument("--tie", dest="tie", action="store_true", default=None, help="tie lm_head to the embedding")
    ap.add_argument("--no-tie", dest="tie", action="store_false")
    ap.add_argument("--attention-bias", dest="attention_bias", action="store_true", default=None)
    ap.add_argument("--no-attention-bias", dest="attention_bias", action="store_false")
    ap.add_argument("--tokenizer", default="auto", choices=["auto", "none"] + list(TOKENIZERS),
                    help="real tokenizer to ship (auto: llama3 for llama, qwen3 for qwen2/qwen3)")
    ap.add_argument("--dtype", default="bf16", choices=["f32", "bf16", "f16"], help="weight dtype of the checkpoint")
    ap.add_argument("--out", help="HF model directory to write")
    ap.add_argument("--shards", type=int, default=1, help="number of safetensors shards")
    ap.add_argument("--gguf", help="GGUF file to write (same weights)")
    ap.add_argument("--gguf-type", default="f32", choices=list(GGUF_TYPES))
    args = ap.parse_args(argv)
    if not args.out and not args.gguf:
        ap.error("nothing to write: give --out DIR and/or --gguf FILE")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    rs = None
    if args.rope_scaling:
        try:
            rs = json.loads(args.rope_scaling)
        except json.JSONDecodeError as e:
            raise SystemExit(f"gen_model: error: --rope-scaling is not JSON: {e}")
        if not isinstance(rs, dict):
            raise SystemExit("gen_model: error: --rope-scaling must be a JSON object")
    spec = build_spec(args.arch, args.preset, args.seed, args.tokenizer, args.hidden_size, args.layers,
                      args.heads, args.kv_heads, args.head_dim, args.intermediate_size, args.vocab_size, rs,
                      args.tie, args.rope_theta, args.max_position_embeddings, args.rms_norm_eps,
                      args.attention_bias)
    if args.out:
        write_hf(spec, args.out, args.dtype, args.shards)
        print(f"gen_model: wrote {args.out} ({args.arch}, {args.dtype})")
    if args.gguf:
        write_gguf(spec, args.gguf, args.gguf_type, args.dtype)
        print(f"gen_model: wrote {args.gguf} ({args.arch}, {args.gguf_type})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
