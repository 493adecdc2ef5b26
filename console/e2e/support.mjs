// Helpers of the end-to-end run: processes, HTTP, the webhook receiver,
// a static server for console/dist (when the binary does not embed it), the
// NATS streams of the run's prefix, percentiles and the bundle size.
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws the last error or `what` on timeout. */
export async function eventually(what, fn, { timeout = 20000, interval = 250 } = {}) {
  const until = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(interval);
  }
}

// ---------------------------------------------------------------- processes

const children = new Set();

/** Spawns a child whose output goes to `logFile`; remembered for cleanup. */
export function startProcess(name, cmd, args, { env, cwd, logFile }) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', out, out] });
  child.name = name;
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function runSync(cmd, args, { env, cwd } = {}) {
  const r = spawnSync(cmd, args, { env, cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** SIGTERM to each child this run started (by its own pid), SIGKILL after `graceMs`. */
export async function stopAll(graceMs = 8000) {
  const list = [...children];
  for (const c of list) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.race([Promise.all(list.map((c) => c.exited)), sleep(graceMs)]);
  for (const c of list) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export function stopAllNow() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

// ---------------------------------------------------------------- HTTP

/** fetch + JSON; returns { status, body, headers }. */
export async function api(base, method, url, { token, body, headers = {} } = {}) {
  const res = await fetch(new URL(url, base), {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function listen(server, port = 0, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address().port));
  });
}

export function closeServer(server) {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

// ---------------------------------------------------------------- webhook receiver

/** Answers `status` (500 at first) to every POST and remembers what came. */
export async function startReceiver() {
  const state = { status: 500, received: [] };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* not JSON */
      }
      state.received.push({ at: Date.now(), method: req.method, url: req.url, headers: req.headers, body: json ?? body, answered: state.status });
      res.writeHead(state.status, { 'Content-Type': 'application/json' });
      res.end(state.status < 300 ? '{"ok":true}' : '{"error":"receiver is failing on purpose"}');
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/hooks/awe`,
    state,
    fail() {
      state.status = 500;
    },
    succeed() {
      state.status = 200;
    },
    stop: () => closeServer(server),
  };
}

// ---------------------------------------------------------------- console/dist served beside the binary

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2' };

/**
 * Serves `dist` at /v1/awe/admin/-/ (unknown pages → index.html, as the
 * binary does) and proxies every other path to the service.
 */
export async function startStaticConsole(dist, backend, port = 0) {
  const base = '/v1/awe/admin/-/';
  const target = new URL(backend);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith(base) || url.pathname === base.slice(0, -1)) {
      const rel = decodeURIComponent(url.pathname.slice(base.length));
      let file = path.join(dist, rel);
      if (!file.startsWith(dist)) {
        res.writeHead(403);
        return res.end();
      }
      const isFile = rel && fs.existsSync(file) && fs.statSync(file).isFile();
      if (!isFile) {
        if (rel.startsWith('assets/') || path.basename(rel).includes('.')) {
          res.writeHead(404, { 'Content-Type': 'text/plain' });
          return res.end('Not Found');
        }
        file = path.join(dist, 'index.html');
      }
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
      return fs.createReadStream(file).pipe(res);
    }
    const proxied = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    proxied.on('error', (e) => {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(String(e));
    });
    req.pipe(proxied);
  });
  const p = await listen(server, port);
  return { origin: `http://127.0.0.1:${p}`, stop: () => closeServer(server) };
}

// ---------------------------------------------------------------- NATS (raw protocol, no client library)

/** Sends one JetStream API request over a bare NATS connection and returns the parsed reply. */
export function natsRequest(natsUrl, subject, payload = '') {
  const u = new URL(natsUrl.replace(/^nats:/, 'http:'));
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port || 4222), u.hostname);
    const inbox = `_INBOX.awe_e2e_${process.pid}_${Math.random().toString(36).slice(2)}`;
    let buf = '';
    let sent = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`NATS request ${subject} timed out`));
    }, 5000);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      if (!sent && buf.includes('INFO ')) {
        sent = true;
        const body = Buffer.from(payload);
        sock.write(`CONNECT {"verbose":false,"pedantic":false,"lang":"node","version":"e2e","protocol":1}\r\nSUB ${inbox} 1\r\nPUB ${subject} ${inbox} ${body.length}\r\n`);
        sock.write(body);
        sock.write('\r\nPING\r\n');
        buf = '';
        return;
      }
      if (buf.includes('PING\r\n')) sock.write('PONG\r\n');
      const m = buf.match(/MSG \S+ \d+ (\d+)\r\n/);
      if (m) {
        const start = buf.indexOf(m[0]) + m[0].length;
        const len = Number(m[1]);
        if (Buffer.byteLength(buf.slice(start)) >= len) {
          clearTimeout(timer);
          const text = Buffer.from(buf.slice(start)).subarray(0, len).toString('utf8');
          sock.end();
          try {
            resolve(JSON.parse(text));
          } catch {
            resolve(text);
          }
        }
      }
      if (buf.startsWith('-ERR')) {
        clearTimeout(timer);
        sock.destroy();
        reject(new Error(buf.trim()));
      }
    });
  });
}

/** Deletes the JetStream streams whose names start with `streamPrefix` (this run's leftovers only). */
export async function deleteStreams(natsUrl, streamPrefix) {
  const names = await natsRequest(natsUrl, '$JS.API.STREAM.NAMES', '{}');
  const ours = (names?.streams ?? []).filter((n) => n.startsWith(streamPrefix));
  for (const n of ours) await natsRequest(natsUrl, `$JS.API.STREAM.DELETE.${n}`, '');
  return ours;
}

// ---------------------------------------------------------------- numbers

export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** The scripts and stylesheets index.html loads first, gzipped, summed (bytes). */
export function initialBundle(dist) {
  const html = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
  const refs = new Set();
  for (const m of html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)) refs.add(m[1]);
  for (const m of html.matchAll(/<link\b[^>]*>/g)) {
    const tag = m[0];
    if (/rel="(stylesheet|modulepreload)"/.test(tag)) {
      const href = tag.match(/href="([^"]+)"/);
      if (href) refs.add(href[1]);
    }
  }
  const files = [];
  let total = 0;
  for (const ref of refs) {
    const rel = ref.replace(/^\/v1\/awe\/admin\/-\//, '').replace(/^\.?\//, '');
    const bytes = fs.readFileSync(path.join(dist, rel));
    const gz = zlib.gzipSync(bytes, { level: 9 }).length;
    files.push({ file: rel, raw: bytes.length, gzip: gz });
    total += gz;
  }
  return { total, files, htmlGzip: zlib.gzipSync(html, { level: 9 }).length };
}
