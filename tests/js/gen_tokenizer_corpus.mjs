// gen_tokenizer_corpus.mjs: writes the tokenizer test corpus (one JSON string
// per line) to stdout. Deterministic (fixed-seed PRNG, no dependencies):
//   node tests/js/gen_tokenizer_corpus.mjs > tests/data/tokenizers/corpus.jsonl
//
// Categories: ASCII prose, CJK, emoji (ZWJ, skin tones, flags, keycaps),
// combining marks and NFC/NFD variants, RTL scripts, Indic, digit runs,
// whitespace/newline runs, code, contractions, special tokens inside text,
// mixed scripts, long words and runs, clean-up triggers, random soups.
// Only code points assigned in Unicode 15.0 or earlier are used (our
// character database is utf8proc's Unicode 15), and no U+0000.

let seed = 0x5eed1234;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rand() * n);
const pick = (a) => a[ri(a.length)];
const rep = (n, f) => Array.from({ length: n }, f);
const cp = (c) => String.fromCodePoint(c);
const range = (lo, hi) => cp(lo + ri(hi - lo + 1));

const out = [];
const add = (s) => out.push(s);

const WORDS = `the quick brown fox jumps over lazy dog a an of to in is it that for on with as was at by be this
from or have not are but had his they you were her she which their all there one been has would when we him more
if no out so said what up its about into than them can only other new some could time these two may then do first
any my now such like our over man me even most made after also did many before must through back years where much
your way well down should because each just those people how too little state good very make world still own see
men work long get here between both life being under never day same another know while last might us great old year
off come since against go came right used take three Hello World Internet tokenizer Unicode JavaScript Python`.split(/\s+/);
const PUNCT = [".", ",", "!", "?", ";", ":", "...", " -", " --", "—", "!!", "?!", ")", "(", "\"", "'"];

function sentence() {
  const n = 3 + ri(14);
  let s = rep(n, () => pick(WORDS)).join(" ");
  s = s[0].toUpperCase() + s.slice(1);
  return s + pick([".", ".", ".", "!", "?", "...", ":", ""]);
}
function prose() {
  const n = 1 + ri(5);
  return rep(n, sentence).join(pick([" ", "  ", "\n", "\n\n", " \n"]));
}

const HAN = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴".split("");
const HAN_PUNCT = ["，", "。", "！", "？", "、", "：", "；", "「", "」", "《", "》", "（", "）", "…", "——"];
const HIRA = range.bind(null, 0x3041, 0x3093);
const KATA = range.bind(null, 0x30a1, 0x30f6);
const HANGUL = () => range(0xac00, 0xd7a3);

function chinese() {
  const n = 4 + ri(40);
  let s = "";
  for (let i = 0; i < n; i++) s += rand() < 0.12 ? pick(HAN_PUNCT) : pick(HAN);
  return s;
}
function japanese() {
  const n = 4 + ri(30);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = rand();
    s += r < 0.4 ? HIRA() : r < 0.65 ? KATA() : r < 0.9 ? pick(HAN) : pick(["。", "、", "ー", "「", "」"]);
  }
  return s;
}
function korean() {
  return rep(2 + ri(8), () => rep(1 + ri(5), HANGUL).join("")).join(" ") + pick([".", "?", "!", ""]);
}

const EMOJI = ["😀", "😂", "🥲", "🤖", "👍", "🎉", "🔥", "❤️", "✨", "🚀", "🐍", "🦀", "🌍", "🍕", "💯", "🙏", "👀", "☕", "⚡", "🧠"];
const SKIN = [0x1f3fb, 0x1f3fc, 0x1f3fd, 0x1f3fe, 0x1f3ff].map(cp);
const ZWJ_SEQ = ["👨‍👩‍👧‍👦", "👩‍💻", "🧑🏽‍🚀", "👩🏾‍🤝‍👩🏻", "🏳️‍🌈", "🏴‍☠️", "❤️‍🔥", "👁️‍🗨️", "🧔‍♂️", "👨🏿‍🦰", "🐻‍❄️"];
const FLAGS = ["US", "FR", "JP", "DE", "BR", "IN", "CN", "KR", "UA", "ZA", "GB", "CA"].map((c) =>
  [...c].map((ch) => cp(0x1f1e6 + ch.charCodeAt(0) - 65)).join(""));
function emoji() {
  const parts = rep(1 + ri(6), () => {
    const r = rand();
    if (r < 0.3) return pick(EMOJI);
    if (r < 0.5) return pick(["👋", "👍", "✌", "🤞", "👏"]) + pick(SKIN);
    if (r < 0.7) return pick(ZWJ_SEQ);
    if (r < 0.85) return pick(FLAGS);
    return pick(["1", "2", "#", "*"]) + "\ufe0f\u20e3";
  });
  return rand() < 0.5 ? parts.join("") : sentence() + " " + parts.join(" ") + pick(["", " ok", "!"]);
}

const NFD_WORDS = ["café", "naïve", "résumé", "Ångström", "façade", "jalapeño", "Zürich", "São Paulo", "Tiếng Việt", "Ελληνικά", "Москва", "ﬁancé", "Ⅻ", "①②③", "ℌ𝔢𝔩𝔩𝔬", "ｆｕｌｌｗｉｄｔｈ", "한국어", "ぱぴぷ", "Å", "Ω"];
function combining() {
  const r = rand();
  const w = pick(NFD_WORDS);
  if (r < 0.3) return w.normalize("NFD");
  if (r < 0.5) return w + " " + w.normalize("NFD") + " " + w.normalize("NFKC");
  if (r < 0.7) {
    // stacked and unusual combining sequences
    const base = pick(["a", "e", "o", "x", "Z", "ア", "가", " ", "1"]);
    return base + rep(1 + ri(4), () => cp(pick([0x300, 0x301, 0x302, 0x303, 0x308, 0x323, 0x327, 0x330, 0x35c, 0x20dd, 0x3099]))).join("") + pick(["", "b", " c"]);
  }
  if (r < 0.85) return "\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af " + w; // conjoining jamo
  return w.normalize("NFKD") + pick(["", "!", " end"]);
}

function rtl() {
  const ar = ["مرحبا", "بالعالم", "كيف", "حالك", "اليوم", "السلام", "عليكم", "شكرا", "٠١٢٣٤٥٦٧٨٩", "كتاب", "مدرسة"];
  const he = ["שלום", "עולם", "מה", "שלומך", "תודה", "ספר", "בית", "ירושלים"];
  const words = rand() < 0.5 ? ar : he;
  let s = rep(2 + ri(7), () => pick(words)).join(" ");
  if (rand() < 0.4) s += " " + ri(10000) + pick(["", "%", " km"]);
  if (rand() < 0.3) s = "Hello " + s + " world";
  return s + pick(["", ".", "؟", "!", "،"]);
}
function indic() {
  const dev = ["नमस्ते", "दुनिया", "भारत", "हिन्दी", "क्षत्रिय", "प्रेम", "विद्यालय", "१२३", "श्री", "ज्ञान"];
  const other = ["தமிழ்", "ਪੰਜਾਬੀ", "বাংলা", "ગુજરાતી", "తెలుగు", "ಕನ್ನಡ", "മലയാളം", "ภาษาไทย", "ສະບາຍດີ", "ချစ်", "ខ្មែរ"];
  return rep(2 + ri(6), () => (rand() < 0.6 ? pick(dev) : pick(other))).join(pick([" ", "। ", ", "]));
}

function digits() {
  const r = rand();
  const run = (n) => rep(n, () => String(ri(10))).join("");
  if (r < 0.35) return run(1 + ri(40));
  if (r < 0.5) return "Total: " + run(1 + ri(9)) + "," + run(3) + "," + run(3) + "." + run(2);
  if (r < 0.6) return "+1 (" + run(3) + ") " + run(3) + "-" + run(4);
  if (r < 0.7) return pick(["٣٤٥", "१२३४", "１２３４５", "²³¹", "½¾⅓", "ⅠⅡⅢⅣ", "①⑳", "𝟙𝟚𝟛", "੧੨"]) + run(ri(5));
  if (r < 0.8) return "v" + run(1) + "." + run(2) + "." + run(1 + ri(3)) + "-rc" + run(1);
  if (r < 0.9) return run(2 + ri(6)) + pick(["px", "kg", "ms", "%", "e10", "x", " apples"]) + " " + run(ri(12));
  return "0x" + rep(1 + ri(16), () => pick("0123456789abcdefABCDEF".split(""))).join("") + " " + run(4) + "-" + run(2) + "-" + run(2);
}

function whitespace() {
  const ws = [" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\t\t", "   \n  ", "\u00a0", "\u3000", "\u2003", "\u0085", "\u2028", "\v", "\f", "\ufeff", "\u200b"];
  let s = "";
  const n = 2 + ri(10);
  for (let i = 0; i < n; i++) {
    s += rand() < 0.5 ? pick(WORDS) : "";
    s += rep(1 + ri(3), () => pick(ws)).join("");
  }
  if (rand() < 0.3) s = rep(1 + ri(4), () => pick(ws)).join("") + s;
  return s;
}

const CODE = [
  "def f(x):\n    return x ** 2\n\nprint(f(3))\n",
  "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
  "const add = (a, b) => a + b;\nconsole.log(`${add(1, 2)}`);",
  "{\"name\": \"sgl-c\", \"version\": \"0.1.0\", \"tags\": [\"llm\", \"c\"], \"ok\": true}",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
  "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }",
  "if x != None and y == 'abc':\n        raise ValueError(\"bad\")\n",
  "https://example.com/path/to/page?query=1&lang=en#section-2",
  "/usr/local/bin/python3 -m pip install --upgrade numpy==1.26.4",
  "<div class=\"box\"><p>Hello &amp; welcome</p></div>",
  "fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); }",
  "    \n    \n        indented_line = True  # comment\n",
  "^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@example\\.com$",
  "x=1;y=2;z=x+y;echo $((z*2)) | tee -a log.txt",
  "a==b||c!=d&&e<=f>>2<<3",
];
function code() {
  let s = pick(CODE);
  if (rand() < 0.4) s = s.replace(/\n/g, "\r\n");
  if (rand() < 0.3) s += "\n" + pick(CODE);
  return s;
}

function contractions() {
  const forms = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re", "'rE", "'VE", "'M", "'LL", "'Ll", "'D", "’s", "'x", "''", "'"];
  const subj = ["I", "you", "he", "she", "it", "we", "they", "John", "don", "can", "won", "y'all", "O", "rock 'n"];
  const r = rand();
  if (r < 0.5) return rep(1 + ri(6), () => pick(subj) + pick(forms)).join(" ") + pick(["", ".", "?", " ok"]);
  if (r < 0.7) return "I" + pick(forms) + " " + pick(WORDS) + " it" + pick(forms) + pick(forms) + "!";
  if (r < 0.85) return pick(["'hello'", "\"quoted\"", "'tis", "'90s", "rock'n'roll", "O'Neil's", "y'all'd've", "ma'am", "don't", "DON'T", "Don'T"]) + " " + sentence();
  return " '" + pick(forms) + " ''" + pick(WORDS) + "'' '";
}

const SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "</tool_call>",
  "<|fim_prefix|>", "<|vision_start|>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
  "<|end_header_id|>", "<|reserved_special_token_5|>", "<|reserved_special_token_250|>", "<|im_start", "<|eot_id",
  "<think", "|>", "<|", "< think>", "<|IM_START|>", "<s>", "</s>", "<unk>"];
function specials() {
  const r = rand();
  if (r < 0.3) return pick(SPECIAL);
  if (r < 0.6) return "<|im_start|>" + pick(["system", "user", "assistant"]) + "\n" + sentence() + "<|im_end|>\n" + (rand() < 0.5 ? "<|im_start|>assistant\n<think>\n\n</think>\n\n" : "");
  if (r < 0.8) return "<|begin_of_text|><|start_header_id|>" + pick(["system", "user"]) + "<|end_header_id|>\n\n" + sentence() + "<|eot_id|>";
  return rep(2 + ri(6), () => (rand() < 0.5 ? pick(SPECIAL) : pick(WORDS))).join(pick(["", " ", "\n"]));
}

function mixed() {
  const parts = [sentence, chinese, japanese, korean, emoji, rtl, indic, digits, () => pick(NFD_WORDS)];
  return rep(2 + ri(4), () => pick(parts)()).join(pick(["", " ", "\n", ", "]));
}

function longs() {
  const r = rand();
  if (r < 0.2) return pick(["supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis", "Donaudampfschifffahrtsgesellschaftskapitän", "antidisestablishmentarianism"]).repeat(1 + ri(3));
  if (r < 0.4) return pick(["a", "ab", "Z", "é", "中", " ", "!", "-", "=", "0", "\n", "😀", "ab "]).repeat(20 + ri(400));
  if (r < 0.6) return rep(50 + ri(250), () => String.fromCharCode(97 + ri(26))).join("");
  if (r < 0.8) return rep(20 + ri(80), () => pick(WORDS)).join(" ");
  return rep(30 + ri(200), () => range(0x21, 0x7e)).join("");
}

function cleanup() {
  const bits = [" .", " ,", " ?", " !", " ' ", " n't", " 'm", " 's", " 've", " 're", " ' s", " n ' t", " ' m", "  .", " . .", " ''", " '"];
  return rep(3 + ri(8), () => (rand() < 0.5 ? pick(WORDS) : pick(bits))).join(pick(["", " "]));
}

function soup() {
  const ranges = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f],
    [0xe00, 0xe5b], [0x1100, 0x11ff], [0x2000, 0x206f], [0x20a0, 0x20c0], [0x2100, 0x214f], [0x2190, 0x21ff], [0x2200, 0x22ff],
    [0x2500, 0x257f], [0x3000, 0x303f], [0x3040, 0x30ff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xff00, 0xffef], [0x1f300, 0x1f5ff],
    [0x1f600, 0x1f64f], [0x1d400, 0x1d7ff], [0x10000, 0x1005d]];
  let s = "";
  const n = 1 + ri(30);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = pick(ranges);
    const c = lo + ri(hi - lo + 1);
    const ch = cp(c);
    // skip unassigned, surrogates, private use and format controls we do not want
    if (!/[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}\n\t]/u.test(ch)) continue;
    s += ch;
  }
  return s;
}

// Fixed edge cases first.
[
  "", " ", "  ", "\n", "\r\n", "\t", "a", "Hello world", "Hello world!", " Hello world", "Hello  world", "hello\nworld",
  "<|im_start|>user\nhi<|im_end|>", "<|begin_of_text|>", "<|eot_id|>", "<|endoftext|>", "<think>", "</think>",
  "<|im_start|><|im_end|>", "<|im_start|> <|im_end|>", "'s", "'S", "'ll", "I'm", "don't", "DON'T",
  "1", "12", "123", "1234", "12345", "123456789012345", "3.14159", "1,000,000", "٣", "½",
  "   leading", "trailing   ", "\n\n\n", " \n \n ", "\r\n\r\n", "a\r\nb", "tab\tseparated\tvalues",
  "😀", "👨‍👩‍👧‍👦", "🇺🇸", "e\u0301", "\u00e9", "\u1100\u1161", "안녕하세요", "你好，世界！", "こんにちは世界",
  "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "Hello , world . Is it ? Yes ! I 'm sure it 's fine , isn 't it ?",
  "He said ' hello ' and left .", "a . b , c ! d ? e", " ' ", " n't", "don 't", "I 've", "we 're",
  "\u00a0", "\u3000", "\u0085", "\u2028", "\ufeff", "\u200b", "a\u00a0b", "x  \n\n  y", "...", "!!!", "?!",
].forEach(add);

const GENS = [
  [prose, 360], [chinese, 120], [japanese, 80], [korean, 60], [emoji, 140], [combining, 120], [rtl, 100], [indic, 80],
  [digits, 200], [whitespace, 200], [code, 120], [contractions, 200], [specials, 200], [mixed, 160], [longs, 60],
  [cleanup, 120], [soup, 160],
];
for (const [g, n] of GENS) for (let i = 0; i < n; i++) add(g());

for (const s of out) {
  if (s.includes("\u0000")) throw new Error("corpus must not contain U+0000");
  process.stdout.write(JSON.stringify(s) + "\n");
}
