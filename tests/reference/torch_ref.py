#!/usr/bin/python3
"""torch_ref: a PyTorch reference forward for LlamaForCausalLM, Qwen2ForCausalLM and
Qwen3ForCausalLM, written from the Hugging Face modeling definitions as the spec,
used to check sgl-c's logits and greedy tokens on the same weights.

  embedding -> N x [ RMSNorm -> attention (GQA, causal, RoPE rotate_half,
  Qwen2 q/k/v bias, Qwen3 per-head q_norm/k_norm before RoPE) -> residual ->
  RMSNorm -> SwiGLU MLP -> residual ] -> RMSNorm -> lm_head (or tied embedding)

RoPE scaling as transformers computes it: linear, llama3 (wavelength smoothing),
yarn (correction range from beta_fast/beta_slow over the original context, ramp
blend of interpolated/extrapolated frequencies, cos/sin scaled by the attention
factor 0.1*ln(factor)+1 unless given).

Weights load from an HF directory (safetensors, single or sharded; f32/bf16/f16
upcast) or from a GGUF file (f32/f16/bf16/q8_0/q4_0 dequantized; Llama Q/K rows
un-permuted back to the HF layout, llama3 scaling from rope_freqs.weight), so a
reference on a quantized file uses exactly the quantized values. The computation
runs in float32 (or float64 with --compute float64); RoPE angles in float64.

sgl-c's numerics (engine_model): the input of a matmul is rounded as the engine's
kernels round it — to bf16 for BF16 weights (unless `--dtype float32`), to 8-bit
blocks for q8_0/q4_0 weights —, keys and values are rounded to bf16 where the
engine's KV cache is bf16 (--kv-cache-dtype; auto: weights not F32 and --dtype not
float32), and `--quantization int8|q4` is reproduced by quantizing the projections
with gen_model's ggml-reference quantizers. Model with act_quant=None and
kv_bf16=False is the exact (unrounded) forward.

Only numpy + torch (Debian's /usr/bin/python3). Also a CLI mirroring `sglc logits`
and `sglc generate` (ids only; engine numerics unless --exact), for debugging:
  torch_ref.py logits --model-path P --input-ids 1,2,3 --output FILE [--dtype float32] [--quantization q4]
  torch_ref.py generate --model-path P --input-ids 1,2,3 --max-new-tokens 32
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import gen_model  # noqa: E402  (number formats and GGUF naming shared with the generator)

# --------------------------------------------------------------------------
# Loading


def read_safetensors(path, dtypes=None):
    """{name: float32 ndarray} of one safetensors file; dtypes (a dict), when given,
    receives {name: "f32" | "f16" | "bf16"}, the stored dtype."""
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        shape = info["shape"]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            a = gen_model.bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {dt}")
        out[name] = a.reshape(shape)
        if dtypes is not None:
            dtypes[name] = dt.lower()
    return out


def load_hf(model_dir, dtypes=None):
    """(config dict, {hf_name: float32 ndarray}) of an HF checkpoint directory (dtypes: see read_safetensors)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    weights = {}
    if os.path.isfile(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        for fn in files:
            weights.update(read_safetensors(os.path.join(model_dir, fn), dtypes))
    else:
        weights = read_safetensors(os.path.join(model_dir, "model.safetensors"), dtypes)
    return cfg, weights


class Gguf:
    """A GGUF v2/v3 file: metadata dict and tensor infos (read fully into memory)."""

    SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        self.pos = 0
        magic = self.data[:4]
        if magic != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version = self._u("<I")
        n_tensors = self._u("<Q")
        n_kv = self._u("<Q")
        self.meta, self.meta_types = {}, {}
        for _ in range(n_kv):
            key = self._str()
            vt = self._u("<I")
            self.meta[key] = self._value(vt)
            self.meta_types[key] = vt
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._str()
            nd = self._u("<I")
            ne = [self._u("<Q") for _ in range(nd)]
            t = self._u("<I")
            off = self._u("<Q")
            self.tensors[name] = (ne, t, off)
        align = int(self.meta.get("general.alignment", 32))
        self.data_start = self.pos + (-self.pos) % align

    def _u(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def _str(self):
        n = self._u("<Q")
        s = self.data[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def _value(self, vt):
        if vt == 8:
            return self._str()
        if vt == 9:
            et = self._u("<I")
            n = self._u("<Q")
            if et in (4, 5, 6):
                dt = {4: "<u4", 5: "<i4", 6: "<f4"}[et]
                a = np.frombuffer(self.data, dtype=dt, count=n, offset=self.pos)
                self.pos += 4 * n
                return a
            return [self._value(et) for _ in range(n)]
        return self._u(self.SCALAR[vt])

    def tensor(self, name):
        """float32 ndarray in numpy order (reverse of the GGUF dims), dequantized."""
        ne, t, off = self.tensors[name]
        n = int(np.prod(ne))
        blk, bsz = gen_model.GGML_BLOCK[t]
        start = self.data_start + off
        raw = self.data[start:start + n // blk * bsz]
        if t == gen_model.GGML_F32:
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif t == gen_model.GGML_F16:
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif t == gen_model.GGML_BF16:
            a = gen_model.bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            a = gen_model.dequantize_blocks(raw, t, n)
        return a.reshape(list(reversed(ne)))


GGML_TYPE_NAMES = {gen_model.GGML_F32: "f32", gen_model.GGML_F16: "f16", gen_model.GGML_BF16: "bf16",
                   gen_model.GGML_Q8_0: "q8_0", gen_model.GGML_Q4_0: "q4_0"}


def load_gguf(path, dtypes=None):
    """(HF-style config dict, {hf_name: float32 ndarray}) of a GGUF file written with llama.cpp's conventions;
    dtypes (a dict), when given, receives {hf_name: "f32" | "f16" | "bf16" | "q8_0" | "q4_0"}."""
    g = Gguf(path)
    m = g.meta
    arch = m["general.architecture"]
    if arch not in gen_model.ARCHS:
        raise ValueError(f"{path}: unsupported architecture {arch}")
    a = f"{arch}."
    n_head = int(m[a + "attention.head_count"])
    n_kv = int(m.get(a + "attention.head_count_kv", n_head))
    hidden = int(m[a + "embedding_length"])
    head_dim = int(m.get(a + "attention.key_length", hidden // n_head))
    cfg = {
        "architectures": [gen_model.ARCHS[arch]["architectures"]],
        "model_type": arch,
        "hidden_size": hidden,
        "num_hidden_layers": int(m[a + "block_count"]),
        "num_attention_heads": n_head,
        "num_key_value_heads": n_kv,
        "head_dim": head_dim,
        "intermediate_size": int(m[a + "feed_forward_length"]),
        "max_position_embeddings": int(m[a + "context_length"]),
        "rms_norm_eps": float(m[a + "attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(m.get(a + "rope.freq_base", 10000.0)),
        "rope_scaling": None,
    }
    st = m.get(a + "rope.scaling.type")
    if st == "linear":
        cfg["rope_scaling"] = {"rope_type": "linear", "factor": float(m[a + "rope.scaling.factor"])}
    elif st == "yarn":
        rs = {"rope_type": "yarn", "factor": float(m[a + "rope.scaling.factor"]),
              "original_max_position_embeddings": int(m[a + "rope.scaling.original_context_length"])}
        if a + "rope.scaling.yarn_beta_fast" in m:
            rs["beta_fast"] = float(m[a + "rope.scaling.yarn_beta_fast"])
        if a + "rope.scaling.yarn_beta_slow" in m:
            rs["beta_slow"] = float(m[a + "rope.scaling.yarn_beta_slow"])
        if a + "rope.scaling.attn_factor" in m:
            rs["attention_factor"] = float(m[a + "rope.scaling.attn_factor"])
        cfg["rope_scaling"] = rs
    elif st not in (None, "none"):
        raise ValueError(f"{path}: unsupported rope scaling {st}")
    inv = {v: k for k, v in gen_model.HF_TO_GGUF_LAYER.items()}
    w = {}
    for name in g.tensors:
        x = g.tensor(name)
        if name == "rope_freqs.weight":
            cfg["rope_freq_factors"] = x.astype(np.float64)
            continue
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        elif name == "output.weight":
            hf = "lm_head.weight"
        else:
            _, layer, rest = name.split(".", 2)
            hf = f"model.layers.{layer}.{inv[rest]}"
        if arch == "llama" and (".q_proj." in hf or ".k_proj." in hf):
            x = gen_model.llama_unpermute(x, n_head if ".q_proj." in hf else n_kv)
        w[hf] = x
        if dtypes is not None:
            dtypes[hf] = GGML_TYPE_NAMES[g.tensors[name][1]]
    cfg["tie_word_embeddings"] = "lm_head.weight" not in w
    cfg["attention_bias"] = "model.layers.0.self_attn.q_proj.bias" in w
    return cfg, w


def load(path, dtypes=None):
    if os.path.isdir(path):
        return load_hf(path, dtypes)
    return load_gguf(path, dtypes)


# --------------------------------------------------------------------------
# RoPE


def rope_type(cfg):
    rs = cfg.get("rope_scaling") or {}
    return rs.get("rope_type", rs.get("type", "default"))


def rope_inv_freq(cfg):
    """(inv_freq float64 [head_dim/2], attention_factor) as transformers' ROPE_INIT_FUNCTIONS."""
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    base = float(cfg.get("rope_theta", 10000.0))
    rs = cfg.get("rope_scaling") or {}
    rt = rope_type(cfg)
    exps = np.arange(0, dim, 2, dtype=np.float64) / dim
    inv_freq = 1.0 / (base ** exps)
    attn = 1.0
    if cfg.get("rope_freq_factors") is not None:  # GGUF llama3: llama.cpp divides the frequency by the factor
        return inv_freq / cfg["rope_freq_factors"], 1.0
    if rt == "default":
        pass
    elif rt == "linear":
        inv_freq = inv_freq / rs["factor"]
    elif rt == "llama3":
        factor = rs["factor"]
        lo, hi = rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
        old = rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wavelen = 2 * math.pi / inv_freq
        scaled = np.where(wavelen > lo_wl, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < hi_wl) & ~(wavelen > lo_wl)
        inv_freq = np.where(medium, smoothed, scaled)
    elif rt == "yarn":
        factor = rs["factor"]
        orig = rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        attn = rs.get("attention_factor")
        if attn is None:
            def get_mscale(scale, mscale=1.0):
                return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0
            ms, msa = rs.get("mscale"), rs.get("mscale_all_dim")
            attn = get_mscale(factor, ms) / get_mscale(factor, msa) if ms and msa else get_mscale(factor)
        beta_fast = rs.get("beta_fast") or 32
        beta_slow = rs.get("beta_slow") or 1

        def corr_dim(n_rot):
            return (dim * math.log(orig / (n_rot * 2 * math.pi))) / (2 * math.log(base))

        low, high = corr_dim(beta_fast), corr_dim(beta_slow)
        if rs.get("truncate", True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, dim - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
        extrap = 1 - ramp
        pos_freqs = base ** exps
        inv_freq = (1.0 / (factor * pos_freqs)) * (1 - extrap) + (1.0 / pos_freqs) * extrap
    else:
        raise ValueError(f"unsupported rope scaling {rt}")
    return inv_freq, float(attn)


# --------------------------------------------------------------------------
# Model


PROJECTIONS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
               "mlp.up_proj", "mlp.down_proj")


def lm_head_key(cfg, weights):
    """Name of the weight the LM head multiplies by: lm_head.weight, or the tied embedding."""
    if "lm_head.weight" in weights and not cfg.get("tie_word_embeddings", False):
        return "lm_head.weight"
    return "model.embed_tokens.weight"


def matmul_keys(cfg, weights):
    """Names of every matmul weight: the layers' projections, then the LM head."""
    keys = [f"model.layers.{i}.{p}.weight" for i in range(cfg["num_hidden_layers"]) for p in PROJECTIONS]
    return keys + [lm_head_key(cfg, weights)]


def quantize_dequantize(x, qtype):
    """Rows of x (float32 [rows, k], k % 32 == 0) quantized to "q8_0" / "q4_0" with gen_model's
    ggml-reference quantizers (f16 scale) and dequantized back to float32."""
    q = {"q8_0": (gen_model.quantize_q8_0, gen_model.GGML_Q8_0), "q4_0": (gen_model.quantize_q4_0,
                                                                         gen_model.GGML_Q4_0)}[qtype]
    blocks = q[0](np.ascontiguousarray(x, dtype=np.float32))
    return gen_model.dequantize_blocks(blocks.tobytes(), q[1], x.size).reshape(x.shape)


class Model:
    """The reference model on float32 (or float64) torch tensors."""

    ACT_MODES = (None, "q8_0", "q8_f32", "bf16")

    def __init__(self, cfg, weights, compute=torch.float32, act_quant=None, kv_bf16=False):
        """act_quant: how the input of a matmul is rounded first (see act_roundtrip): None (exact),
        "q8_0" / "q8_f32" (8-bit blocks, as llama.cpp and sgl-c do for q8_0/q4_0 weights) or
        "bf16" (as HF BF16 inference and sgl-c do for bf16 weights); one mode for every matmul,
        or a dict {weight name: mode} (missing names: exact), the LM head being "lm_head.weight"
        when the model has one, else "model.embed_tokens.weight" (see engine_model).
        kv_bf16: keys (after q/k norm and RoPE) and values rounded to bf16 before attention
        uses them, as a bf16 KV cache stores them."""
        self.cfg = cfg
        self.kv_bf16 = kv_bf16
        self.dt = compute
        modes = act_quant.values() if isinstance(act_quant, dict) else [act_quant]
        bad = [m for m in modes if m not in self.ACT_MODES]
        if bad:
            raise ValueError(f"act_quant {bad[0]}")
        self.act_quant = act_quant
        self.w = {k: torch.from_numpy(np.ascontiguousarray(v)).to(compute) for k, v in weights.items()}
        arch = cfg["architectures"][0]
        self.qk_norm = arch == "Qwen3ForCausalLM"
        self.n_layers = cfg["num_hidden_layers"]
        self.n_head = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or self.n_head
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // self.n_head
        self.eps = cfg["rms_norm_eps"]
        self.inv_freq, self.attn_factor = rope_inv_freq(cfg)
        self.lm_head_key = lm_head_key(cfg, weights)
        self.vocab = self.w["model.embed_tokens.weight"].shape[0]

    @staticmethod
    def act_roundtrip(x, mode):
        """x [..., n] rounded as a matmul input and back (to x's dtype), from its float32 value:
        "q8_0": 8-bit blocks of 32 (n % 32 == 0), scale amax/127 stored as f16, round half away
                from zero (ggml's block_q8_0);
        "q8_f32": the same with the scale kept in f32 and round half to even (sgl-c's kernels spec);
        "bf16": each value to bfloat16, round to nearest even."""
        if mode == "bf16":
            return x.to(torch.float32).to(torch.bfloat16).to(x.dtype)
        b = x.reshape(-1, 32).to(torch.float32)
        d = b.abs().amax(dim=1, keepdim=True) / 127.0
        inv = torch.where(d > 0, 1.0 / d, torch.zeros_like(d))
        v = b * inv
        if mode == "q8_0":
            v = v.to(torch.float64)
            q = torch.sign(v) * torch.floor(v.abs() + 0.5)
            d = d.to(torch.float16)
        else:
            q = torch.round(v)  # half to even
        return (q.to(torch.float64) * d.to(torch.float64)).to(x.dtype).reshape(x.shape)

    def linear(self, x, key):
        """x @ w.T for the weight named key, the input rounded as act_quant says (8-bit block
        modes only where the row length is a multiple of 32, as the engine's kernels)."""
        mode = self.act_quant.get(key) if isinstance(self.act_quant, dict) else self.act_quant
        if mode == "bf16" or (mode and x.shape[-1] % 32 == 0):
            x = self.act_roundtrip(x, mode)
        return x @ self.w[key].T

    def rms_norm(self, x, w):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * w

    def rope_cos_sin(self, n):
        ang = np.arange(n, dtype=np.float64)[:, None] * self.inv_freq[None, :]
        emb = np.concatenate([ang, ang], axis=1)
        cos = torch.from_numpy(np.cos(emb) * self.attn_factor).to(self.dt)
        sin = torch.from_numpy(np.sin(emb) * self.attn_factor).to(self.dt)
        return cos, sin

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat([-x[..., h:], x[..., :h]], dim=-1)

    def hidden(self, ids):
        """Final normed hidden states [T, hidden] for token ids [T]."""
        w = self.w
        t = len(ids)
        x = w["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)]
        cos, sin = self.rope_cos_sin(t)
        cos, sin = cos[:, None, :], sin[:, None, :]
        mask = torch.full((t, t), float("-inf"), dtype=self.dt).triu(1)
        hd, rep = self.head_dim, self.n_head // self.n_kv
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            h = self.rms_norm(x, w[p + "input_layernorm.weight"])
            q = self.linear(h, p + "self_attn.q_proj.weight")
            k = self.linear(h, p + "self_attn.k_proj.weight")
            v = self.linear(h, p + "self_attn.v_proj.weight")
            if p + "self_attn.q_proj.bias" in w:
                q = q + w[p + "self_attn.q_proj.bias"]
                k = k + w[p + "self_attn.k_proj.bias"]
                v = v + w[p + "self_attn.v_proj.bias"]
            q = q.view(t, self.n_head, hd)
            k = k.view(t, self.n_kv, hd)
            v = v.view(t, self.n_kv, hd)
            if self.qk_norm:
                q = self.rms_norm(q, w[p + "self_attn.q_norm.weight"])
                k = self.rms_norm(k, w[p + "self_attn.k_norm.weight"])
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            if self.kv_bf16:
                k, v = self.act_roundtrip(k, "bf16"), self.act_roundtrip(v, "bf16")
            k = k.repeat_interleave(rep, dim=1)  # head j uses kv head j // rep, as HF repeat_kv
            v = v.repeat_interleave(rep, dim=1)
            scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
            probs = torch.softmax(scores, dim=-1)
            o = torch.einsum("hqk,khd->qhd", probs, v).reshape(t, self.n_head * hd)
            x = x + self.linear(o, p + "self_attn.o_proj.weight")
            h = self.rms_norm(x, w[p + "post_attention_layernorm.weight"])
            g = self.linear(h, p + "mlp.gate_proj.weight")
            u = self.linear(h, p + "mlp.up_proj.weight")
            x = x + self.linear(torch.nn.functional.silu(g) * u, p + "mlp.down_proj.weight")
        return self.rms_norm(x, w["model.norm.weight"])

    def logits(self, ids):
        """ndarray [T, vocab] (the compute dtype): logits at every position."""
        with torch.no_grad():
            return self.linear(self.hidden(ids), self.lm_head_key).numpy()

    def greedy(self, ids, n_new):
        """(new token ids, per-step logits [n_new, vocab]); full recompute each step."""
        seq = list(ids)
        out, steps = [], []
        with torch.no_grad():
            for _ in range(n_new):
                last = self.linear(self.hidden(seq)[-1:], self.lm_head_key).numpy()[0]
                tok = int(np.argmax(last))
                steps.append(last)
                out.append(tok)
                seq.append(tok)
        return out, np.stack(steps) if steps else np.zeros((0, self.vocab))


def load_model(path, compute=torch.float32, act_quant=None):
    cfg, w = load(path)
    return Model(cfg, w, compute, act_quant)


ENGINE_DTYPES = ("auto", "bfloat16", "float32")
ENGINE_QUANTIZATIONS = (None, "int8", "q4")


def engine_weights(cfg, weights, dtypes, quantization):
    """(cfg, weights, dtypes) as sgl-c holds them after `--quantization` (None, "int8", "q4"):
    every F32/F16/BF16 matmul weight (matmul_keys) whose rows are whole 32-blocks is quantized,
    from its float32 value, to q8_0 (int8) or q4_0 (q4; the LM head q8_0) and dequantized. A
    tied LM head becomes such a copy (lm_head.weight, cfg untied) while the embedding lookup
    keeps the stored values. The inputs are not modified."""
    if quantization not in ENGINE_QUANTIZATIONS:
        raise ValueError(f"quantization {quantization}")
    cfg, w, dt = dict(cfg), dict(weights), dict(dtypes)
    if not quantization:
        return cfg, w, dt
    head = lm_head_key(cfg, w)
    if head != "lm_head.weight":
        w["lm_head.weight"], dt["lm_head.weight"] = w[head], dt[head]
        cfg["tie_word_embeddings"] = False
    for k in matmul_keys(cfg, w):
        if dt[k] in ("f32", "f16", "bf16") and w[k].shape[1] % 32 == 0:
            t = "q8_0" if quantization == "int8" or k == "lm_head.weight" else "q4_0"
            w[k], dt[k] = quantize_dequantize(w[k], t), t
    return cfg, w, dt


def engine_act_modes(cfg, weights, dtypes, dtype="auto"):
    """{matmul weight: act_quant mode} of sgl-c's kernels: "q8_f32" for q8_0/q4_0 weights,
    "bf16" for BF16 weights unless dtype is "float32", else exact (f32/f16 weights)."""
    if dtype not in ENGINE_DTYPES:
        raise ValueError(f"dtype {dtype}")
    modes = {}
    for k in matmul_keys(cfg, weights):
        t = dtypes[k]
        modes[k] = "q8_f32" if t in ("q8_0", "q4_0") else "bf16" if t == "bf16" and dtype != "float32" else None
    return modes


def engine_kv_bf16(dtypes, dtype="auto", kv_cache_dtype="auto"):
    """Whether sgl-c keeps the KV cache in bf16: --kv-cache-dtype bfloat16, or auto with the
    checkpoint's projections not F32 (dtypes as loaded, before --quantization) and --dtype
    not float32."""
    if kv_cache_dtype not in ENGINE_DTYPES:
        raise ValueError(f"kv_cache_dtype {kv_cache_dtype}")
    if kv_cache_dtype != "auto":
        return kv_cache_dtype == "bfloat16"
    return dtype != "float32" and dtypes["model.layers.0.self_attn.q_proj.weight"] != "f32"


def engine_model(path, compute=torch.float32, dtype="auto", quantization=None, kv_cache_dtype="auto"):
    """The reference with sgl-c's numerics for `sglc logits --model-path path --dtype dtype
    --quantization quantization --kv-cache-dtype kv_cache_dtype`: engine_weights,
    engine_act_modes and engine_kv_bf16."""
    dtypes = {}
    cfg, w = load(path, dtypes)
    kv_bf16 = engine_kv_bf16(dtypes, dtype, kv_cache_dtype)
    cfg, w, dtypes = engine_weights(cfg, w, dtypes, quantization)
    return Model(cfg, w, compute, engine_act_modes(cfg, w, dtypes, dtype), kv_bf16)


# --------------------------------------------------------------------------
# CLI


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch reference forward (Llama/Qwen2/Qwen3)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("logits", "generate"):
        s = sub.add_parser(name)
        s.add_argument("--model-path", required=True)
        s.add_argument("--input-ids", required=True)
        s.add_argument("--compute", default="float32", choices=["float32", "float64"])
        s.add_argument("--threads", type=int, default=0)
        s.add_argument("--dtype", default="auto", choices=list(ENGINE_DTYPES),
                       help="as sglc: bf16 weights take bf16-rounded matmul inputs unless float32")
        s.add_argument("--quantization", default=None, choices=["int8", "q4"], help="as sglc")
        s.add_argument("--kv-cache-dtype", default="auto", choices=list(ENGINE_DTYPES), help="as sglc")
        s.add_argument("--exact", action="store_true", help="exact matmul inputs and stored weights (no engine "
                       "numerics; --dtype/--quantization ignored)")
        if name == "logits":
            s.add_argument("--output", required=True)
        else:
            s.add_argument("--max-new-tokens", type=int, default=32)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ids = [int(x) for x in args.input_ids.split(",") if x]
    compute = torch.float64 if args.compute == "float64" else torch.float32
    if args.exact:
        m = load_model(args.model_path, compute)
    else:
        m = engine_model(args.model_path, compute, args.dtype, args.quantization, args.kv_cache_dtype)
    if args.cmd == "logits":
        m.logits(ids).astype("<f4").tofile(args.output)
    else:
        out, _ = m.greedy(ids, args.max_new_tokens)
        print(json.dumps({"output_ids": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
