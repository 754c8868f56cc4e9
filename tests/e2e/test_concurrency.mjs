// End-to-end tests of `sglc serve` under concurrency: 16 concurrent greedy
// requests give the same text as one at a time; the prefix cache reports
// cached tokens; /metrics counts them; and with a tiny KV cache 32 concurrent
// long requests all complete (the scheduler queues / retracts) and leave every
// KV page free.
//
// usage: node test_concurrency.mjs SGLC_BINARY DATA_DIR
import { assert, assertEq, http, loadOpenAI, makeRunner, startServer, waitKvFree } from './lib.mjs';

const [sglc] = process.argv.slice(2);
const { OpenAI } = loadOpenAI();
const MODEL = 'stories260K';

const t = makeRunner('concurrency', { deadlineMs: 540000 });
let srv = await startServer(sglc, ['--enable-cache-report', '--enable-metrics']);
t.onCleanup(async () => {
  if (!srv) return;
  const code = await srv.stop();
  if (code !== 0) throw new Error(`server exit status ${code}: ${srv.stderr().slice(-2000)}`);
});
let client = new OpenAI({ apiKey: 'none', baseURL: `${srv.baseURL}/v1`, maxRetries: 0, timeout: 120000 });

const prompts = [
  'Once upon a time', 'The little dog', 'Lily and Ben', 'One day, a bird', 'The sun was', 'Tom had a red',
  'In the park', 'Mom said', 'The big tree', 'A girl named Sue', 'The cat sat', 'Max liked to',
  'It was a cold', 'The boy ran', 'There was a fish', 'She found a box',
];

await t.test('16 concurrent greedy requests equal sequential ones', async () => {
  const req = (p) => client.completions.create({ model: MODEL, prompt: p, max_tokens: 32, temperature: 0 });
  const seq = [];
  for (const p of prompts) seq.push((await req(p)).choices[0].text);
  const par = (await Promise.all(prompts.map(req))).map((r) => r.choices[0].text);
  assertEq(par, seq, 'texts');
  // streaming, concurrently, gives the same text too
  const streamed = await Promise.all(prompts.map(async (p) => {
    const s = await client.completions.create({ model: MODEL, prompt: p, max_tokens: 32, temperature: 0, stream: true });
    let text = '';
    for await (const ch of s) for (const c of ch.choices) text += c.text;
    return text;
  }));
  assertEq(streamed, seq, 'streamed texts');
});

await t.test('prefix cache reports cached tokens', async () => {
  const f = await http(srv.baseURL, '/flush_cache', { method: 'POST' });
  assertEq(f.status, 200, 'flush_cache');
  const system = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. '.repeat(6);
  const a = await client.completions.create({ model: MODEL, prompt: system + 'One day', max_tokens: 4, temperature: 0 });
  const b = await client.completions.create({ model: MODEL, prompt: system + 'The end', max_tokens: 4, temperature: 0 });
  assert(a.usage.prompt_tokens > 100, `long prompt (${a.usage.prompt_tokens} tokens)`);
  assertEq(a.usage.prompt_tokens_details.cached_tokens, 0, 'first request: nothing cached');
  const cached = b.usage.prompt_tokens_details.cached_tokens;
  assert(cached >= a.usage.prompt_tokens - 8 && cached < b.usage.prompt_tokens,
    `second request reuses the shared prefix (${cached} of ${b.usage.prompt_tokens})`);
  const n = await http(srv.baseURL, '/generate', {
    method: 'POST', body: { text: system + 'One day', sampling_params: { max_new_tokens: 4, temperature: 0 } },
  });
  assert(n.body.meta_info.cached_tokens >= a.usage.prompt_tokens - 1, 'native meta_info.cached_tokens');
  assertEq(n.body.text, a.choices[0].text, 'a cached prefix gives the same text');
});

await t.test('metrics', async () => {
  const m = await http(srv.baseURL, '/metrics');
  assertEq(m.status, 200, 'status');
  for (const name of ['sglang:num_running_reqs', 'sglang:num_queue_reqs', 'sglang:token_usage', 'sglang:cache_hit_rate',
    'sglang:prompt_tokens_total', 'sglang:generation_tokens_total', 'sglang:time_to_first_token_seconds_bucket',
    'sglang:inter_token_latency_seconds_bucket', 'sglang:e2e_request_latency_seconds_count']) {
    assert(m.text.includes(name), `metric ${name}`);
  }
  const gen = /sglang:generation_tokens_total\{[^}]*\} (\d+)/.exec(m.text);
  assert(gen && Number(gen[1]) >= 16 * 32 * 2, 'generation tokens counted');
  const e2e = /sglang:e2e_request_latency_seconds_count\{[^}]*\} (\d+)/.exec(m.text);
  assert(e2e && Number(e2e[1]) >= 48, 'finished requests counted');
  const hit = /sglang:cache_hit_rate\{[^}]*\} ([0-9.e-]+)/.exec(m.text);
  assert(hit && Number(hit[1]) > 0, 'cache hit rate > 0');
});

await t.test('KV is free after the load', async () => {
  await waitKvFree(srv.baseURL);
});

{
  const code = await srv.stop();
  srv = null;
  await t.test('first server exits cleanly', async () => assertEq(code, 0, 'exit status'));
}

// A KV cache far smaller than the load: 32 requests x (prompt + 150 tokens) > 20 x capacity.
srv = await startServer(sglc, ['--max-total-tokens', '384']);
client = new OpenAI({ apiKey: 'none', baseURL: `${srv.baseURL}/v1`, maxRetries: 0, timeout: 400000 });

await t.test('KV exhaustion: 32 concurrent long requests all complete', async () => {
  const info = await http(srv.baseURL, '/get_server_info');
  const total = info.body.internal_states[0].kv_total_tokens;
  assert(total > 0 && total <= 384, `tiny KV (${total} tokens)`);
  const jobs = [];
  for (let i = 0; i < 32; i++) {
    const p = prompts[i % prompts.length];
    if (i % 2) {
      jobs.push(client.completions.create({ model: MODEL, prompt: p, max_tokens: 150, temperature: 0, ignore_eos: true })
        .then((r) => ({ text: r.choices[0].text, n: r.usage.completion_tokens, finish: r.choices[0].finish_reason })));
    } else {
      jobs.push((async () => {
        const s = await client.completions.create({
          model: MODEL, prompt: p, max_tokens: 150, temperature: 0, ignore_eos: true, stream: true,
          stream_options: { include_usage: true },
        });
        let text = '', n = 0, finish = null;
        for await (const ch of s) {
          if (ch.usage) n = ch.usage.completion_tokens;
          for (const c of ch.choices) { text += c.text; if (c.finish_reason) finish = c.finish_reason; }
        }
        return { text, n, finish };
      })());
    }
  }
  const res = await Promise.all(jobs);
  for (const [i, r] of res.entries()) {
    assertEq(r.n, 150, `request ${i} completion tokens`);
    assertEq(r.finish, 'length', `request ${i} finish`);
  }
  // same prompt, same greedy text, whether it was retracted or not
  for (let i = 0; i < 16; i++) assertEq(res[i].text, res[i + 16].text, `request ${i} vs ${i + 16}`);
  const st = await waitKvFree(srv.baseURL);
  assertEq(st.kv_total_tokens, total, 'capacity unchanged');
  const f = await http(srv.baseURL, '/flush_cache', { method: 'POST' });
  assertEq(f.status, 200, 'flush');
  const after = (await http(srv.baseURL, '/get_server_info')).body.internal_states[0];
  assertEq(after.kv_used_tokens, 0, 'no KV held after flush');
  assertEq(after.kv_evictable_tokens, 0, 'prefix cache emptied by flush');
  assertEq(after.kv_free_tokens, after.kv_total_tokens, 'every KV page free after flush');
});

await t.test('a request larger than the KV cache is rejected with an error', async () => {
  const prompt = [1, ...Array(449).fill(400)]; // fits the 512-token context, not the 384-token cache
  try {
    await client.completions.create({ model: MODEL, prompt, max_tokens: 5 });
    throw new Error('expected an error');
  } catch (e) {
    assertEq(e.status, 400, `status (${e.message})`);
    assert(e.message.includes('KV cache'), e.message);
  }
  // streaming: the error arrives as an event, then [DONE]; the SDK raises it
  const s = await client.completions.create({ model: MODEL, prompt, max_tokens: 5, stream: true });
  let raised = null;
  try {
    for await (const ch of s) { void ch; }
  } catch (e) {
    raised = e;
  }
  assert(raised && raised.message.includes('KV cache'), `stream error raised: ${raised && raised.message}`);
  const raw = await http(srv.baseURL, '/v1/completions', { method: 'POST', body: { model: MODEL, prompt, max_tokens: 5, stream: true } });
  const lines = raw.text.split('\n').filter((l) => l.startsWith('data: '));
  assertEq(lines[lines.length - 1], 'data: [DONE]', 'last event');
  assertEq(JSON.parse(lines[lines.length - 2].slice(6)).error.code, 400, 'error event');
  await waitKvFree(srv.baseURL);
});

await t.finish();
