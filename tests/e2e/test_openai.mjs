// End-to-end tests of the OpenAI API of `sglc serve` with the official `openai`
// SDK: models, completions, chat (with a test chat template), streaming,
// n > 1, stop, logprobs, echo, seeds, and the error paths (401/404/400).
//
// usage: node test_openai.mjs SGLC_BINARY DATA_DIR
import fs from 'node:fs';
import path from 'node:path';
import { assert, assertEq, http, loadOpenAI, makeRunner, startServer } from './lib.mjs';

const [sglc, dataDir] = process.argv.slice(2);
const { OpenAI } = loadOpenAI();
const MODEL = 'stories260K';
const KEY = 'sk-e2e-test';
const expectedIds = fs.readFileSync(path.join(dataDir, 'models/stories260K/expected_greedy_ids.txt'), 'utf8')
  .trim().split(/\s+/).map(Number);
const expectedText = fs.readFileSync(path.join(dataDir, 'models/stories260K/expected_greedy_output.txt'), 'utf8');

const t = makeRunner('openai', { deadlineMs: 300000 });
const srv = await startServer(sglc, [
  '--api-key', KEY, '--chat-template', path.join(dataDir, 'server/simple_chat.jinja'), '--enable-cache-report',
]);
t.onCleanup(async () => {
  const code = await srv.stop();
  if (code !== 0) throw new Error(`server exit status ${code}: ${srv.stderr().slice(-2000)}`);
});
const client = new OpenAI({ apiKey: KEY, baseURL: `${srv.baseURL}/v1`, maxRetries: 0, timeout: 60000 });
const auth = { Authorization: `Bearer ${KEY}` };

async function expectStatus(promise, status, needle) {
  try {
    await promise;
  } catch (e) {
    assertEq(e.status, status, `status of ${e.message}`);
    if (needle) assert(String(e.message).includes(needle), `"${e.message}" should contain "${needle}"`);
    return e;
  }
  throw new Error(`expected an HTTP ${status} error`);
}

await t.test('models', async () => {
  const list = await client.models.list();
  assertEq(list.data.map((m) => m.id), [MODEL], 'served models');
  assertEq(list.data[0].max_model_len, 512, 'max_model_len');
  const m = await client.models.retrieve(MODEL);
  assertEq(m.id, MODEL, 'retrieve');
  await expectStatus(client.models.retrieve('no-such-model'), 404, 'does not exist');
});

await t.test('greedy completion reproduces the reference output', async () => {
  // prompt = [BOS]: the documented greedy continuation of stories260K
  const r = await client.completions.create({ model: MODEL, prompt: [1], max_tokens: 64, temperature: 0 });
  const c = r.choices[0];
  assertEq(r.object, 'text_completion', 'object');
  assertEq(c.finish_reason, 'length', 'finish_reason');
  assertEq(r.usage.completion_tokens, 64, 'completion_tokens');
  assertEq(r.usage.prompt_tokens, 1, 'prompt_tokens');
  assertEq(r.usage.total_tokens, 65, 'total_tokens');
  assert(expectedText.startsWith(c.text), `text ${JSON.stringify(c.text)} is not a prefix of the reference`);
  assert(c.text.length > 100, 'text length');
  // the same through the native API: the exact ids
  const n = await http(srv.baseURL, '/generate', {
    method: 'POST', headers: auth,
    body: { input_ids: [1], sampling_params: { max_new_tokens: 64, temperature: 0 } },
  });
  assertEq(n.status, 200, 'native status');
  assertEq(n.body.output_ids, expectedIds.slice(0, 64), 'native output ids');
  assertEq(n.body.text, c.text, 'native text');
});

await t.test('completion prompt forms and n', async () => {
  const r = await client.completions.create({
    model: MODEL, prompt: ['Once upon a time', 'The cat'], max_tokens: 5, temperature: 0, n: 2,
  });
  assertEq(r.choices.length, 4, 'choices = prompts x n');
  assertEq(r.choices.map((c) => c.index), [0, 1, 2, 3], 'indices');
  assertEq(r.choices[0].text, r.choices[1].text, 'greedy n=2 gives equal choices');
  assert(r.choices[0].text !== r.choices[2].text, 'different prompts differ');
  assertEq(r.usage.completion_tokens, 20, 'completion tokens summed');
  const single = await client.completions.create({ model: MODEL, prompt: 'The cat', max_tokens: 5, temperature: 0 });
  const single0 = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
  assertEq(r.usage.prompt_tokens, single.usage.prompt_tokens + single0.usage.prompt_tokens, 'prompt tokens counted once per prompt');
  assertEq(r.choices[2].text, single.choices[0].text, 'batched = single');
  assertEq(r.choices[0].text, single0.choices[0].text, 'batched = single (0)');
  const ids = await client.completions.create({ model: MODEL, prompt: [[1, 403], [1, 432]], max_tokens: 3, temperature: 0 });
  assertEq(ids.choices.length, 2, 'id lists');
  assertEq(ids.usage.prompt_tokens, 4, 'prompt tokens of id lists');
});

await t.test('echo, stop and logprobs (completions)', async () => {
  const prompt = 'Once upon a time';
  const e = await client.completions.create({ model: MODEL, prompt, max_tokens: 4, temperature: 0, echo: true });
  assert(e.choices[0].text.startsWith(prompt), 'echo prefix');
  const s = await client.completions.create({ model: MODEL, prompt, max_tokens: 64, temperature: 0, stop: ['Lily'] });
  assertEq(s.choices[0].finish_reason, 'stop', 'stopped by string');
  assertEq(s.choices[0].matched_stop, 'Lily', 'matched_stop');
  assert(!s.choices[0].text.includes('Lily'), 'stop string trimmed');
  assert(s.choices[0].text.endsWith('named '), `text before stop: ${JSON.stringify(s.choices[0].text)}`);
  const lp = await client.completions.create({ model: MODEL, prompt, max_tokens: 6, temperature: 0, logprobs: 3 });
  const l = lp.choices[0].logprobs;
  assertEq(l.tokens.length, 6, 'tokens');
  assertEq(l.token_logprobs.length, 6, 'token_logprobs');
  assertEq(l.top_logprobs.length, 6, 'top_logprobs');
  for (let i = 0; i < 6; i++) {
    assert(l.token_logprobs[i] <= 0, 'logprob <= 0');
    const top = Object.values(l.top_logprobs[i]);
    assert(top.length >= 1 && top.length <= 3, 'top count');
    // greedy: the chosen token is the most likely one
    assert(Math.abs(Math.max(...top) - l.token_logprobs[i]) < 1e-5, 'greedy token has the max logprob');
  }
  for (let i = 1; i < 6; i++) assert(l.text_offset[i] >= l.text_offset[i - 1], 'text_offset grows');
});

await t.test('seed determinism', async () => {
  const req = { model: MODEL, prompt: 'Once upon a time', max_tokens: 24, temperature: 1.0, seed: 1234 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assertEq(a.choices[0].text, b.choices[0].text, 'same seed, same text');
  const outs = new Set();
  for (const seed of [1, 2, 3, 4]) {
    const r = await client.completions.create({ ...req, seed });
    outs.add(r.choices[0].text);
  }
  assert(outs.size >= 2, 'different seeds give different samples');
  const n = await client.completions.create({ ...req, n: 3 });
  assertEq(n.choices[0].text, a.choices[0].text, 'choice 0 with n=3 equals the n=1 sample');
  assert(new Set(n.choices.map((c) => c.text)).size >= 2, 'seeded choices differ');
});

await t.test('streaming completion', async () => {
  const stream = await client.completions.create({
    model: MODEL, prompt: [1], max_tokens: 32, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '', chunks = 0, finish = null, usage = null;
  for await (const ch of stream) {
    chunks++;
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  // The server sends what is new each time the I/O thread runs, so a fast model on a busy host may have
  // several tokens in one chunk: require incremental delivery, not one chunk per token.
  assert(chunks >= 3, `several chunks (${chunks})`);
  assertEq(finish, 'length', 'finish_reason');
  assertEq(usage && usage.completion_tokens, 32, 'usage chunk');
  assert(expectedText.startsWith(text), 'streamed text is the reference prefix');
});

await t.test('chat completion', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, max_tokens: 12, temperature: 0,
    messages: [{ role: 'system', content: 'Tell a story.' }, { role: 'user', content: 'Once upon a time' }],
  });
  assertEq(r.object, 'chat.completion', 'object');
  assertEq(r.choices[0].message.role, 'assistant', 'role');
  assert(typeof r.choices[0].message.content === 'string' && r.choices[0].message.content.length > 0, 'content');
  assertEq(r.usage.completion_tokens, 12, 'max_tokens applied');
  // the prompt is the rendered template: compare with /tokenize of the same messages
  const tk = await http(srv.baseURL, '/tokenize', {
    method: 'POST', headers: auth,
    body: { messages: [{ role: 'system', content: 'Tell a story.' }, { role: 'user', content: 'Once upon a time' }] },
  });
  assertEq(tk.status, 200, 'tokenize status');
  assertEq(r.usage.prompt_tokens, tk.body.count, 'prompt tokens = rendered template tokens');
  // default max_tokens: the rest of the context
  const d = await client.chat.completions.create({
    model: MODEL, temperature: 0, messages: [{ role: 'user', content: 'Hi' }], stop: ['.'],
  });
  assertEq(d.choices[0].finish_reason, 'stop', 'stops at "."');
  // content parts, n and max_completion_tokens
  const p = await client.chat.completions.create({
    model: MODEL, temperature: 0, max_completion_tokens: 5, n: 2,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Once upon' }, { type: 'text', text: 'a time' }] }],
  });
  assertEq(p.choices.length, 2, 'n=2');
  assertEq(p.usage.completion_tokens, 10, 'completion tokens of n=2');
  // chat_template_kwargs reach the template
  const base = { model: MODEL, max_tokens: 1, messages: [{ role: 'user', content: 'Hi' }] };
  const k0 = await client.chat.completions.create(base);
  const k1 = await client.chat.completions.create({ ...base, chat_template_kwargs: { enable_thinking: false } });
  assert(k1.usage.prompt_tokens > k0.usage.prompt_tokens, 'enable_thinking=false adds the [no think] marker');
});

await t.test('chat streaming and logprobs', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL, max_tokens: 10, temperature: 0, stream: true, logprobs: true, top_logprobs: 2,
    messages: [{ role: 'user', content: 'Once upon a time' }], stream_options: { include_usage: true },
  });
  let content = '', first = null, finish = null, usage = null, lpTokens = 0;
  for await (const ch of stream) {
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) {
      if (first === null) first = c.delta;
      if (c.delta.content) content += c.delta.content;
      if (c.logprobs && c.logprobs.content) {
        for (const e of c.logprobs.content) {
          lpTokens++;
          assert(Array.isArray(e.bytes) && typeof e.logprob === 'number', 'logprob entry');
          assert(e.top_logprobs.length === 2, 'top_logprobs');
        }
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assertEq(first.role, 'assistant', 'first delta has the role');
  assertEq(lpTokens, 10, 'one logprob entry per token');
  assertEq(finish, 'length', 'finish');
  assertEq(usage.completion_tokens, 10, 'usage');
  const full = await client.chat.completions.create({
    model: MODEL, max_tokens: 10, temperature: 0, messages: [{ role: 'user', content: 'Once upon a time' }],
  });
  assertEq(content, full.choices[0].message.content, 'stream = non-stream');
});

await t.test('sampling parameters are applied', async () => {
  const base = { model: MODEL, prompt: 'Once upon a time', max_tokens: 16 };
  const g = await client.completions.create({ ...base, temperature: 0 });
  const k1 = await client.completions.create({ ...base, temperature: 1.5, top_k: 1, seed: 5 });
  assertEq(k1.choices[0].text, g.choices[0].text, 'top_k=1 is greedy');
  const p = await client.completions.create({ ...base, temperature: 1.5, top_p: 1e-6, seed: 5 });
  assertEq(p.choices[0].text, g.choices[0].text, 'tiny top_p is greedy');
  const m = await client.completions.create({ ...base, temperature: 1.5, min_p: 1.0, seed: 5 });
  assertEq(m.choices[0].text, g.choices[0].text, 'min_p=1 is greedy');
  // logit_bias: forbid the greedy first token
  const lp = await client.completions.create({ ...base, max_tokens: 1, temperature: 0, logprobs: 1 });
  const tok = await http(srv.baseURL, '/tokenize', { method: 'POST', headers: auth, body: { prompt: 'Once upon a time' } });
  const gen = await http(srv.baseURL, '/generate', {
    method: 'POST', headers: auth, body: { input_ids: tok.body.tokens, sampling_params: { max_new_tokens: 1, temperature: 0 } },
  });
  const first = gen.body.output_ids[0];
  const biased = await client.completions.create({ ...base, max_tokens: 1, temperature: 0, logit_bias: { [first]: -100 } });
  assert(biased.choices[0].text !== lp.choices[0].text, 'logit_bias -100 changes the greedy token');
  // ignore_eos + min_tokens: exactly max_tokens tokens
  const ie = await client.completions.create({ ...base, max_tokens: 300, temperature: 0, ignore_eos: true });
  assertEq(ie.usage.completion_tokens, 300, 'ignore_eos runs to max_tokens');
  // presence / frequency / repetition penalties change the greedy text
  const pen = await client.completions.create({ ...base, max_tokens: 48, temperature: 0, frequency_penalty: 2 });
  const nopen = await client.completions.create({ ...base, max_tokens: 48, temperature: 0 });
  assert(pen.choices[0].text !== nopen.choices[0].text, 'frequency_penalty changes the text');
  const rep = await client.completions.create({ ...base, max_tokens: 48, temperature: 0, repetition_penalty: 1.5 });
  assert(rep.choices[0].text !== nopen.choices[0].text, 'repetition_penalty changes the text');
  // stop_token_ids: stop at the first generated token
  const st = await client.completions.create({ ...base, max_tokens: 10, temperature: 0, stop_token_ids: [first] });
  assertEq(st.choices[0].finish_reason, 'stop', 'stop_token_ids');
  assertEq(st.choices[0].matched_stop, first, 'matched token id');
});

await t.test('errors', async () => {
  const bad = new OpenAI({ apiKey: 'wrong', baseURL: `${srv.baseURL}/v1`, maxRetries: 0 });
  await expectStatus(bad.models.list(), 401);
  await expectStatus(bad.completions.create({ model: MODEL, prompt: 'x' }), 401);
  const h = await http(srv.baseURL, '/health');
  assertEq(h.status, 200, '/health needs no key');
  await expectStatus(client.completions.create({ model: 'gpt-4', prompt: 'x' }), 404, 'The model `gpt-4` does not exist.');
  await expectStatus(client.completions.create({ model: MODEL, prompt: 'x', temperature: -1 }), 400, 'temperature must be non-negative');
  await expectStatus(client.completions.create({ model: MODEL, prompt: 'x', top_p: 2 }), 400, 'top_p');
  await expectStatus(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 0 }), 400, 'max_tokens must be positive');
  await expectStatus(client.completions.create({ model: MODEL, prompt: '' }), 400, 'The prompt is empty.');
  await expectStatus(client.completions.create({ model: MODEL, prompt: 'x', n: 1000 }), 400, "'n' must be in");
  await expectStatus(client.completions.create({ model: MODEL, prompt: [99999] }), 400, 'out of range');
  await expectStatus(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 600 }), 400,
    "Requested token count exceeds the model's maximum context length of 512 tokens");
  const long = 'Once upon a time '.repeat(200);
  const e = await expectStatus(client.completions.create({ model: MODEL, prompt: long }), 400,
    "is longer than the model's context length (512 tokens).");
  assert(/The input \(\d+ tokens\)/.test(e.message), 'input token count in the message');
  await expectStatus(client.chat.completions.create({ model: MODEL, messages: [] }), 400, 'must not be empty');
  await expectStatus(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'RAISE' }] }),
    400, 'the template refused this conversation');
  // the OpenAI error body format
  const r = await http(srv.baseURL, '/v1/completions', { method: 'POST', headers: auth, body: '{"model":' });
  assertEq(r.status, 400, 'malformed JSON');
  assertEq(Object.keys(r.body).sort(), ['code', 'error', 'message', 'object', 'param', 'type'], 'error fields');
  assertEq(r.body.error.message, r.body.message, 'nested error for OpenAI SDKs');
  assertEq(r.body.object, 'error', 'object');
  assertEq(r.body.type, 'BadRequestError', 'type');
  assertEq(r.body.code, 400, 'code');
  const ct = await http(srv.baseURL, '/v1/completions', {
    method: 'POST', headers: { ...auth, 'Content-Type': 'text/plain' }, body: '{}',
  });
  assertEq(ct.status, 400, 'non-JSON content type');
  assert(ct.body.message.includes('Unsupported Media Type'), 'content type message');
  const nf = await http(srv.baseURL, '/v1/nothing', { headers: auth });
  assertEq(nf.status, 404, 'unknown route');
  const ma = await http(srv.baseURL, '/v1/completions', { headers: auth });
  assertEq(ma.status, 405, 'wrong method');
  assert(ma.headers.get('allow').includes('POST'), 'Allow header');
  // an error inside a stream: [DONE] follows the error event
  const s = await http(srv.baseURL, '/v1/completions', {
    method: 'POST', headers: auth, body: { model: MODEL, prompt: 'x', stream: true, max_tokens: 0 },
  });
  assertEq(s.status, 400, 'validation errors come before the stream starts');
});

await t.finish();
