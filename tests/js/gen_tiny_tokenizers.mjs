// gen_tiny_tokenizers.mjs: writes small hand-made tokenizer fixtures (written
// by the sgl-c project, no third-party data) used by the tokenizer tests:
//   node tests/js/gen_tiny_tokenizers.mjs tests/data/tokenizers
//
// tiny-spm: the shape of a Llama-2 / Mistral tokenizer.json (SentencePiece
// converted to BPE): Prepend("▁") + Replace(" " -> "▁") normalizer, no
// pre-tokenizer, BPE with byte_fallback and <0xXX> tokens, TemplateProcessing
// adding <s>, decoder Replace("▁" -> " ") + ByteFallback + Fuse + Strip(" ", 1, 0).
import fs from "node:fs";
import path from "node:path";

const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: gen_tiny_tokenizers.mjs OUT_DIR");
  process.exit(2);
}

const vocab = { "<unk>": 0, "<s>": 1, "</s>": 2 };
for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
const add = (t) => {
  if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
};
add("▁");
for (const c of "abcdefghijklmnopqrstuvwxyz.,!?'0123456789世界你好é") add(c);
const merges = [
  ["▁", "t"], ["h", "e"], ["▁t", "he"], ["i", "n"], ["▁", "a"], ["e", "r"], ["o", "n"], ["r", "e"], ["a", "n"],
  ["▁", "s"], ["▁", "w"], ["a", "t"], ["e", "n"], ["o", "r"], ["in", "g"], ["▁", "c"], ["i", "s"], ["n", "d"],
  ["▁", "b"], ["e", "s"], ["▁", "o"], ["▁w", "h"], ["▁", "h"], ["▁", "f"], ["l", "l"], ["▁a", "nd"], ["▁", "m"],
  ["e", "d"], ["o", "u"], ["▁", "l"], ["▁", "▁"], ["▁▁", "▁▁"], ["世", "界"], ["你", "好"], ["▁", "世界"],
  ["▁", "i"], ["▁i", "s"], ["▁", "d"], ["o", "n"], ["▁d", "on"], ["'", "t"], ["▁don", "'t"], ["h", "e"],
  ["▁", "1"], ["1", "2"], ["▁1", "2"], ["e", "l"], ["el", "l"], ["h", "ell"], ["hell", "o"], ["▁", "hello"],
];
const seen = new Set();
const mergeList = [];
for (const [a, b] of merges) {
  const key = a + " " + b;
  if (seen.has(key)) continue;
  seen.add(key);
  add(a);
  add(b);
  add(a + b);
  mergeList.push(key);
}

const special = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const tokenizer = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
  normalizer: {
    type: "Sequence",
    normalizers: [{ type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }],
  },
  pre_tokenizer: null,
  post_processor: {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<s>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
    special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
  },
  decoder: {
    type: "Sequence",
    decoders: [
      { type: "Replace", pattern: { String: "▁" }, content: " " },
      { type: "ByteFallback" },
      { type: "Fuse" },
      { type: "Strip", content: " ", start: 1, stop: 0 },
    ],
  },
  model: {
    type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: mergeList,
  },
};
const config = {
  add_bos_token: true, add_eos_token: false, bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>",
  clean_up_tokenization_spaces: false, model_max_length: 2048, tokenizer_class: "LlamaTokenizer",
};
const dir = path.join(outDir, "tiny-spm");
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer, null, 1) + "\n");
fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 1) + "\n");
