// Shared helpers of the end-to-end server tests: start `sglc serve` on a free
// loopback port (--port 0; the port is read from its "listening on" line),
// always stop it (SIGTERM, then SIGKILL) — also on failure, timeout or signal —
// a tiny test runner that prints "ok/FAIL name" and "N passed, N failed", raw
// HTTP over node's net module for requests no well-behaved client sends, and
// the official `openai` SDK loaded from tests/js/node_modules.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';

const require = createRequire(new URL('../js/package.json', import.meta.url));

export function loadOpenAI() {
  try {
    return require('openai');
  } catch (e) {
    console.log(`FAIL the openai SDK is not installed (run: npm ci --prefix tests/js): ${e.message}`);
    process.exit(1);
  }
}

const live = new Set();

function killAll() {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(1); });

// Starts the server; resolves {port, baseURL, stop(), stderr()}.
export function startServer(sglc, args = [], { startTimeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(sglc, ['serve', '--host', '127.0.0.1', '--port', '0', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    live.add(proc);
    let err = '';
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      proc.kill('SIGKILL');
      reject(new Error(`server did not start in ${startTimeoutMs} ms: ${err}`));
    }, startTimeoutMs);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      err += d;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19));
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(err);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({
          port,
          baseURL: `http://127.0.0.1:${port}`,
          proc,
          stderr: () => err,
          stop: () => stopProc(proc),
        });
      }
    });
    proc.on('exit', (code, sig) => {
      live.delete(proc);
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`server exited (${code ?? sig}) before listening: ${err}`));
      }
    });
  });
}

// SIGTERM, then SIGKILL after 15 s. Resolves the exit code (or signal name).
function stopProc(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve(proc.exitCode ?? proc.signalCode);
      return;
    }
    const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
    proc.once('exit', (code, sig) => {
      clearTimeout(t);
      resolve(code ?? sig);
    });
    proc.kill('SIGTERM');
  });
}

// Minimal test runner with a global deadline.
export function makeRunner(name, { deadlineMs = 240000 } = {}) {
  let pass = 0, fail = 0;
  const cleanups = [];
  const deadline = setTimeout(async () => {
    console.log(`FAIL ${name}: global deadline of ${deadlineMs} ms exceeded`);
    for (const c of cleanups) { try { await c(); } catch { /* ignore */ } }
    killAll();
    process.exit(1);
  }, deadlineMs);
  return {
    onCleanup(fn) { cleanups.push(fn); },
    async test(tname, fn) {
      try {
        await fn();
        pass++;
        console.log(`ok   ${tname}`);
      } catch (e) {
        fail++;
        console.log(`FAIL ${tname}: ${e && e.stack ? e.stack : e}`);
      }
    },
    async finish() {
      for (const c of cleanups) { try { await c(); } catch (e) { console.log(`cleanup: ${e}`); } }
      clearTimeout(deadline);
      console.log(`${pass} passed, ${fail} failed`);
      process.exit(fail ? 1 : 0);
    },
  };
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}
export function assertEq(a, b, msg) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`${msg}: ${sa} !== ${sb}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// JSON request with fetch; returns {status, body (parsed or text), headers}.
export async function http(baseURL, path, { method = 'GET', body, headers = {}, timeoutMs = 60000 } = {}) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const r = await fetch(baseURL + path, {
      method,
      headers: body !== undefined ? { 'Content-Type': 'application/json', ...headers } : headers,
      body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
      signal: ctl.signal,
    });
    const text = await r.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: parsed, text, headers: r.headers };
  } finally {
    clearTimeout(t);
  }
}

// Raw request bytes over a fresh socket; resolves the whole raw response (as a Buffer)
// once the server closes the connection or timeoutMs passes.
export function rawRequest(port, chunks, { delayMs = 0, timeoutMs = 30000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const parts = [];
    const t = setTimeout(() => { sock.destroy(); resolve(Buffer.concat(parts)); }, timeoutMs);
    sock.on('data', (d) => parts.push(d));
    sock.on('error', () => {});
    sock.on('close', () => { clearTimeout(t); resolve(Buffer.concat(parts)); });
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (sock.destroyed) break;
        sock.write(c);
        if (delayMs) await sleep(delayMs);
      }
    });
  });
}

export function rawStatus(buf) {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1'));
  return m ? Number(m[1]) : -1;
}

// Body of a raw response; decodes chunked transfer encoding.
export function rawBody(buf) {
  const s = buf.toString('latin1');
  const i = s.indexOf('\r\n\r\n');
  if (i < 0) return '';
  const head = s.slice(0, i).toLowerCase();
  let body = buf.subarray(i + 4);
  if (head.includes('transfer-encoding: chunked')) {
    const out = [];
    let p = 0;
    for (;;) {
      const e = body.indexOf('\r\n', p);
      if (e < 0) break;
      const n = parseInt(body.subarray(p, e).toString('latin1'), 16);
      if (!n) break;
      out.push(body.subarray(e + 2, e + 2 + n));
      p = e + 2 + n + 2;
    }
    body = Buffer.concat(out);
  }
  return body.toString('utf8');
}

// Polls /get_server_info until no request runs or waits and no KV token is held
// by a request (only evictable prefix-cache entries may remain).
export async function waitKvFree(baseURL, { timeoutMs = 15000 } = {}) {
  const end = Date.now() + timeoutMs;
  let st;
  for (;;) {
    const r = await http(baseURL, '/get_server_info');
    st = r.body.internal_states[0];
    // kv_used_tokens counts tokens held by requests (evictable cache entries are separate)
    if (st.num_running_reqs === 0 && st.num_queue_reqs === 0 && st.kv_used_tokens === 0 &&
        st.kv_available_tokens === st.kv_total_tokens) return st;
    if (Date.now() > end) throw new Error(`KV not freed in time: ${JSON.stringify(st)}`);
    await sleep(100);
  }
}
