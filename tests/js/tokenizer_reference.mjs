// tokenizer_reference.mjs: compares sgl-c's tokenizer with the reference
// @huggingface/tokenizers on the corpus (tests/data/tokenizers/corpus.jsonl).
//
//   node tests/js/tokenizer_reference.mjs --driver build/tests/tokenizer_driver \
//        --data tests/data/tokenizers --name qwen3
//
// For every corpus string: ids with and without add_special_tokens must be
// equal; decode of the ids (with and without skip_special_tokens) must equal
// the reference's decode; streaming detokenization must equal the one-shot
// decode; for tokenizers without clean-up, decode(encode(s)) must give back
// the (normalized) input. Prints "N passed, N failed"; exit status 1 on any
// failure, also when the reference is not installed (npm ci --prefix tests/js).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const driver = arg("driver");
const dataDir = arg("data");
const name = arg("name");
const corpusPath = arg("corpus", dataDir ? path.join(dataDir, "corpus.jsonl") : undefined);
if (!driver || !dataDir || !name) {
  console.error("usage: tokenizer_reference.mjs --driver PATH --data DIR --name qwen3|llama3|llama3-instruct [--corpus FILE]");
  process.exit(2);
}

let Tokenizer;
try {
  ({ Tokenizer } = await import("@huggingface/tokenizers"));
} catch (e) {
  console.error("FAIL: the reference @huggingface/tokenizers is not installed; run: npm ci --prefix tests/js");
  console.error(`(${e.message.split("\n")[0]})`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const dir = path.join(dataDir, name);
const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
const tc = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
const ref = new Tokenizer(tj, tc);
const cleanUp = tc.clean_up_tokenization_spaces ?? true;
const nfc = tj.normalizer && tj.normalizer.type === "NFC";
// A Prepend("▁") normalizer (SentencePiece style) adds a space after every added
// token, so such strings do not round-trip (in the reference either).
const hasPrepend = JSON.stringify(tj.normalizer ?? null).includes('"Prepend"');
const addedContents = (tj.added_tokens ?? []).map((t) => t.content);
// Known reference quirk: its ByteFallback decoder uses a default TextDecoder,
// which drops a U+FEFF at the start of each byte group; HF's Rust decoder
// keeps it (so do we). Such decodes are compared with U+FEFF removed.
const hasByteFallback = JSON.stringify(tj.decoder ?? null).includes('"ByteFallback"');
let quirks = 0;
function sameDecode(ours, theirs) {
  if (ours === theirs) return true;
  if (hasByteFallback && ours.replaceAll("\ufeff", "") === theirs.replaceAll("\ufeff", "")) {
    quirks++;
    return true;
  }
  return false;
}
const corpus = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length).map((l) => JSON.parse(l));

const t0 = Date.now();
const run = spawnSync(driver, [dir, corpusPath], { encoding: "utf8", maxBuffer: 1 << 30 });
const elapsed = Date.now() - t0;
if (run.status !== 0) {
  console.error(`FAIL: driver exited with ${run.status}${run.signal ? " (" + run.signal + ")" : ""}: ${run.stderr.trim()}`);
  console.log(`0 passed, ${corpus.length} failed`);
  process.exit(1);
}
const ours = run.stdout.split("\n").filter((l) => l.length).map((l) => JSON.parse(l));
if (ours.length !== corpus.length) {
  console.error(`FAIL: driver wrote ${ours.length} results for ${corpus.length} strings`);
  process.exit(1);
}

const eqIds = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const refDecode = (ids, skip) => (ids.length ? ref.decode(ids, { skip_special_tokens: skip }) : "");
const show = (s) => JSON.stringify(s.length > 160 ? s.slice(0, 160) + "…" : s);

let passed = 0, failed = 0, roundTrips = 0;
const reports = [];
for (let i = 0; i < corpus.length; i++) {
  const s = corpus[i], o = ours[i];
  const problems = [];
  const a = ref.encode(s, { add_special_tokens: true }).ids;
  const b = ref.encode(s, { add_special_tokens: false }).ids;
  if (!eqIds(a, o.a)) problems.push(`ids (add_special_tokens=true): ours ${JSON.stringify(o.a)} reference ${JSON.stringify(a)}`);
  if (!eqIds(b, o.b)) problems.push(`ids (add_special_tokens=false): ours ${JSON.stringify(o.b)} reference ${JSON.stringify(b)}`);
  const d = refDecode(a, false), sk = refDecode(a, true);
  if (!sameDecode(o.d, d)) problems.push(`decode: ours ${show(o.d)} reference ${show(d)}`);
  if (!sameDecode(o.s, sk)) problems.push(`decode(skip_special_tokens): ours ${show(o.s)} reference ${show(sk)}`);
  if (!o.stream) problems.push("streaming detokenization differs from the one-shot decode");
  if (!cleanUp && eqIds(b, o.b) && !(hasPrepend && addedContents.some((c) => s.includes(c)))) {
    // decode(encode(s)) must give back the input, normalized like the tokenizer does.
    const back = refDecode(o.b, false);
    const want = nfc ? s.normalize("NFC") : s;
    if (!sameDecode(back, want)) problems.push(`round trip: ${show(back)} != ${show(want)}`);
    else roundTrips++;
  }
  if (problems.length) {
    failed++;
    if (reports.length < 12) reports.push(`#${i} ${show(s)}\n    ` + problems.join("\n    "));
  } else passed++;
}
for (const r of reports) console.log("FAIL " + r);
console.log(`${name}: ${corpus.length} strings, driver ${elapsed} ms, ${roundTrips} exact round trips` +
  (quirks ? `, ${quirks} decodes equal up to the reference's U+FEFF quirk` : ""));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
