// End-to-end robustness tests of `sglc serve`: hostile or broken clients over
// raw sockets — invalid UTF-8, huge numbers, deeply nested JSON, a 1 MB
// prompt, an oversized body, malformed HTTP, a body sent byte by byte, and
// clients that vanish mid-stream or mid-generation — after which the server
// must still answer correctly and hold no KV cache.
//
// usage: node test_bad_input.mjs SGLC_BINARY DATA_DIR
import net from 'node:net';
import { assert, assertEq, http, makeRunner, rawBody, rawRequest, rawStatus, sleep, startServer, waitKvFree } from './lib.mjs';

const [sglc] = process.argv.slice(2);
const MODEL = 'stories260K';
const t = makeRunner('bad_input', { deadlineMs: 400000 });
const srv = await startServer(sglc, []);
t.onCleanup(async () => {
  const code = await srv.stop();
  if (code !== 0) throw new Error(`server exit status ${code}: ${srv.stderr().slice(-2000)}`);
});

function post(path, bodyBuf, extra = '') {
  const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${bodyBuf.length}\r\nConnection: close\r\n${extra}\r\n`;
  return [Buffer.from(head, 'latin1'), bodyBuf];
}

async function postRaw(path, bodyBuf) {
  const r = await rawRequest(srv.port, post(path, bodyBuf));
  let json = null;
  try { json = JSON.parse(rawBody(r)); } catch { /* not JSON */ }
  return { status: rawStatus(r), json, raw: r };
}

async function stillServes() {
  const r = await http(srv.baseURL, '/v1/completions', {
    method: 'POST', body: { model: MODEL, prompt: 'Once upon a time', max_tokens: 4, temperature: 0 },
  });
  assertEq(r.status, 200, 'a normal request still works');
  assertEq(r.body.usage.completion_tokens, 4, 'and generates');
}

await t.test('invalid UTF-8 in the prompt', async () => {
  const body = Buffer.concat([
    Buffer.from('{"model":"stories260K","max_tokens":8,"temperature":0,"prompt":"Once \u00ff '),
    Buffer.from([0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80]),
    Buffer.from(' upon"}'),
  ]);
  const r = await postRaw('/v1/completions', body);
  assertEq(r.status, 200, 'status');
  assert(r.json && typeof r.json.choices[0].text === 'string', 'valid JSON answer');
  // echo sends the invalid bytes back: they must come out as valid UTF-8 (U+FFFD)
  const e = await postRaw('/v1/completions', Buffer.concat([
    Buffer.from('{"model":"stories260K","max_tokens":1,"echo":true,"prompt":"a'), Buffer.from([0xff]), Buffer.from('b"}')]));
  assertEq(e.status, 200, 'echo status');
  assert(e.json.choices[0].text.startsWith('a\ufffdb'), 'invalid byte replaced');
  const g = await postRaw('/generate', Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xc3]), Buffer.from('"}')]));
  assertEq(g.status, 200, 'native');
});

await t.test('huge and odd numbers', async () => {
  const cases = [
    ['{"model":"stories260K","prompt":"x","max_tokens":1e308}', 400, 'exceeds'],
    ['{"model":"stories260K","prompt":"x","n":1e20}', 400, "'n' must be in"],
    ['{"model":"stories260K","prompt":"x","max_tokens":-1e308}', 400, 'max_tokens must be positive'],
    ['{"model":"stories260K","prompt":"x","temperature":1e999}', 400, "'temperature' must be a number"],
    ['{"model":"stories260K","prompt":"x","seed":123456789012345678901234567890}', 400, "'seed' must be in"],
    ['{"model":"stories260K","prompt":[1e10]}', 400, 'token ids'],
    ['{"model":"stories260K","prompt":"x","top_k":99999999999}', 200, ''],
    ['{"model":"stories260K","prompt":"x","max_tokens":3,"temperature":1e300}', 200, ''],
    ['{"model":"stories260K","prompt":"x","logit_bias":{"99999999999999999999":1}}', 400, 'logit_bias key'],
  ];
  for (const [body, status, needle] of cases) {
    const r = await postRaw('/v1/completions', Buffer.from(body));
    assertEq(r.status, status, body);
    if (needle) assert(r.json && r.json.message.includes(needle), `${body}: ${r.json && r.json.message}`);
  }
});

await t.test('deeply nested JSON', async () => {
  for (const depth of [1000, 100000]) {
    const body = '{"model":"stories260K","prompt":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
    const r = await postRaw('/v1/completions', Buffer.from(body));
    assertEq(r.status, 400, `depth ${depth}`);
  }
  const chat = '{"model":"stories260K","messages":[{"role":"user","content":"hi","x":' + '{"a":'.repeat(5000) + '1' + '}'.repeat(5000) + '}]}';
  const c = await postRaw('/v1/chat/completions', Buffer.from(chat));
  assertEq(c.status, 400, 'nested chat');
});

await t.test('1 MB prompt and oversized bodies', async () => {
  const big = JSON.stringify({ model: MODEL, prompt: 'Once upon a time '.repeat(62000), max_tokens: 4 });
  assert(big.length > 1000000, 'body over 1 MB');
  const t0 = Date.now();
  const r = await postRaw('/v1/completions', Buffer.from(big));
  assertEq(r.status, 400, 'too long for the context');
  assert(/The input \(\d+ tokens\) is longer than the model's context length \(512 tokens\)\./.test(r.json.message), r.json.message);
  console.log(`     (1 MB prompt rejected in ${Date.now() - t0} ms)`);
  // declared body over the 32 MiB limit: 413 without the server reading it
  const head = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${40 << 20}\r\n\r\n`;
  const h = await rawRequest(srv.port, [Buffer.from(head)]);
  assertEq(rawStatus(h), 413, 'declared too large');
  assertEq(JSON.parse(rawBody(h)).code, 413, 'OpenAI error body');
  // chunked body that grows past the limit
  const sock = net.connect(srv.port, '127.0.0.1');
  const parts = [];
  const done = new Promise((res) => { sock.on('close', res); sock.on('error', res); });
  sock.on('data', (d) => parts.push(d));
  await new Promise((res) => sock.on('connect', res));
  sock.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
  const chunk = Buffer.alloc(1 << 20, 0x61);
  for (let i = 0; i < 34 && !sock.destroyed; i++) {
    sock.write(`${chunk.length.toString(16)}\r\n`);
    sock.write(chunk);
    sock.write('\r\n');
  }
  if (!sock.destroyed) sock.write('0\r\n\r\n');
  await done;
  assertEq(rawStatus(Buffer.concat(parts)), 413, 'chunked too large');
});

await t.test('malformed HTTP and protocol misuse', async () => {
  const g = await rawRequest(srv.port, [Buffer.from('GARBAGE\r\n\r\n')], { timeoutMs: 5000 });
  assert(rawStatus(g) === 400 || g.length === 0, `garbage request line: ${g.toString('latin1').slice(0, 40)}`);
  const bad = await rawRequest(srv.port, [Buffer.from('POST /v1/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n')], { timeoutMs: 5000 });
  assert(rawStatus(bad) === 400 || rawStatus(bad) === 413 || bad.length === 0, 'bad content-length');
  const empty = await postRaw('/v1/completions', Buffer.alloc(0));
  assertEq(empty.status, 400, 'empty body');
  const nul = await postRaw('/v1/completions', Buffer.from('{"model":"stories260K","prompt":"x"}\0garbage'));
  assertEq(nul.status, 400, 'NUL then garbage');
  const arr = await postRaw('/generate', Buffer.from('[1,2,3]'));
  assertEq(arr.status, 400, 'not an object');
  const unk = await rawRequest(srv.port, [Buffer.from('DELETE /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]);
  assertEq(rawStatus(unk), 405, 'wrong method');
  await stillServes();
});

await t.test('a body sent byte by byte', async () => {
  const body = Buffer.from(JSON.stringify({ model: MODEL, prompt: 'Once upon a time', max_tokens: 3, temperature: 0 }));
  const [head] = post('/v1/completions', body);
  const chunks = [head];
  for (const b of body) chunks.push(Buffer.from([b]));
  const r = await rawRequest(srv.port, chunks, { delayMs: 5, timeoutMs: 60000 });
  assertEq(rawStatus(r), 200, 'slow body');
  assertEq(JSON.parse(rawBody(r)).usage.completion_tokens, 3, 'answered');
});

// Starts a request and drops the connection after `afterBytes` bytes of the answer (0: 300 ms after sending).
function vanish(port, body, afterBytes) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = 0;
    sock.on('error', () => {});
    sock.on('close', resolve);
    sock.on('connect', async () => {
      for (const c of post(body.path, Buffer.from(JSON.stringify(body.json)))) sock.write(c);
      if (afterBytes === 0) { await sleep(300); sock.destroy(); }
    });
    sock.on('data', (d) => {
      got += d.length;
      if (afterBytes && got >= afterBytes) sock.destroy();
    });
  });
}

await t.test('clients vanishing mid-stream and mid-generation free their KV', async () => {
  // A long context so that none of these requests could finish on its own within the test:
  // everything must be aborted when its client goes away (running or still queued).
  const srv2 = await startServer(sglc, ['--context-length', '4096', '--log-requests']);
  try {
    const long = { max_tokens: 4000, temperature: 0.8, ignore_eos: true };
    const native = { max_new_tokens: 4000, ignore_eos: true };
    const jobs = [];
    for (let i = 0; i < 8; i++) {
      jobs.push(vanish(srv2.port, { path: '/v1/completions', json: { model: MODEL, prompt: 'Once upon a time', stream: true, ...long } }, 600));
      jobs.push(vanish(srv2.port, { path: '/v1/completions', json: { model: MODEL, prompt: 'The cat', ...long } }, 0));
      jobs.push(vanish(srv2.port, { path: '/generate', json: { text: 'The dog', stream: true, sampling_params: native } }, 300));
      jobs.push(vanish(srv2.port, { path: '/generate', json: { text: 'The dog', sampling_params: native } }, 0));
    }
    const t0 = Date.now();
    await Promise.all(jobs);
    await waitKvFree(srv2.baseURL, { timeoutMs: 20000 });
    console.log(`     (32 abandoned requests cleaned up ${Date.now() - t0} ms after the first disconnect)`);
    // (a request whose client vanished before the server read it never starts: at least half must have)
    const finished = (srv2.stderr().match(/finished: [a-z]+/g) || []);
    const aborted = finished.filter((f) => f === 'finished: abort').length;
    assertEq(aborted, finished.length, 'every abandoned request was aborted, none ran to its end');
    assert(aborted >= 16 && aborted <= 32, `${aborted} requests aborted`);
    const r = await http(srv2.baseURL, '/generate', { method: 'POST', body: { text: 'The dog', sampling_params: { max_new_tokens: 4 } } });
    assertEq(r.status, 200, 'still serves');
    await waitKvFree(srv2.baseURL);
  } finally {
    const code = await srv2.stop();
    assertEq(code, 0, 'clean exit');
  }
  await stillServes();
});

await t.test('health after everything', async () => {
  const h = await http(srv.baseURL, '/health');
  assertEq(h.status, 200, '/health');
  const hg = await http(srv.baseURL, '/health_generate');
  assertEq(hg.status, 200, '/health_generate');
});

await t.finish();
