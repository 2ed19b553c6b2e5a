#!/usr/bin/env node
// Interoperability peer client for plainws, built on the npm package `ws`.
//
// Usage: node client.js <url> [--deflate] [--no-context-takeover] [--mode echo|wait-close]
//          [--server-max-window-bits N] [--client-max-window-bits N] [--window-payloads] [--max-size N]
//
// echo mode checks, step by step, that the server at <url> echoes every message with
// identical bytes and type, answers a ping, and completes the closing handshake.
// wait-close mode prints what the server sends until the server closes.
// The output format is shared with interop/peers/python/client.py (see interop/README.md).
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const MAX_MESSAGE = 128 * 1024 * 1024;
const OVERALL_TIMEOUT_MS = 30 * 1000;
let SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024];
let randomBinary = false; // --window-payloads

function usage(msg) {
  process.stderr.write(`client.js: ${msg}\nusage: node client.js <url> [--deflate] [--no-context-takeover] [--mode echo|wait-close] [--server-max-window-bits N] [--client-max-window-bits N] [--window-payloads] [--max-size N]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { url: null, deflate: false, noContextTakeover: false, mode: 'echo', serverMaxWindowBits: 0, clientMaxWindowBits: 0, windowPayloads: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--deflate') opts.deflate = true;
    else if (a === '--no-context-takeover') opts.noContextTakeover = true;
    else if (a === '--window-payloads') opts.windowPayloads = true;
    else if (a === '--max-size') opts.maxSize = Number(argv[++i]);
    else if (a === '--server-max-window-bits' || a === '--client-max-window-bits') {
      const bits = Number(argv[++i]);
      if (!Number.isInteger(bits) || bits < 8 || bits > 15) usage(`bad ${a} ${argv[i]}`);
      opts[a === '--server-max-window-bits' ? 'serverMaxWindowBits' : 'clientMaxWindowBits'] = bits;
    }
    else if (a === '--mode') {
      opts.mode = argv[++i];
      if (opts.mode !== 'echo' && opts.mode !== 'wait-close') usage(`bad --mode ${opts.mode}`);
    } else if (a.startsWith('--')) usage(`unknown argument ${a}`);
    else if (opts.url === null) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (opts.url === null) usage('missing <url>');
  return opts;
}

// textOfSize returns exactly n bytes of valid UTF-8 that mixes 1-, 2-, 3- and 4-byte
// characters; where a multi-byte character would not fit, ASCII 'x' pads the end.
// The Python client builds the same bytes.
function textOfSize(n) {
  const cycle = ['p', 'l', 'a', 'i', 'n', 'w', 's', ' ', 'é', 'ß', '€', '✓', '𝄞', '😀', '\n'];
  const parts = [];
  let used = 0;
  let k = 0;
  while (used < n) {
    let c = cycle[k % cycle.length];
    k++;
    let b = Buffer.from(c, 'utf8');
    if (b.length > n - used) b = Buffer.from('x');
    parts.push(b);
    used += b.length;
  }
  return Buffer.concat(parts, n);
}

// binaryOfSize returns n deterministic bytes covering every byte value.
function binaryOfSize(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

// Inbox turns the event stream into awaitable "next message" / "next pong" / "closed".
class Inbox {
  constructor(ws) {
    this.items = [];
    this.waiter = null;
    this.closed = null;
    ws.on('message', (data, isBinary) => this.push({ kind: 'message', data, isBinary }));
    ws.on('pong', (data) => this.push({ kind: 'pong', data }));
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.push({ kind: 'close', code, reason: reason.toString('utf8') });
    });
    ws.on('error', (err) => this.push({ kind: 'error', err }));
  }

  push(item) {
    this.items.push(item);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }

  async next() {
    while (this.items.length === 0) {
      await new Promise((resolve) => { this.waiter = resolve; });
    }
    return this.items.shift();
  }
}

function describe(item) {
  if (item.kind === 'message') return `${item.isBinary ? 'binary' : 'text'} message of ${item.data.length} bytes`;
  if (item.kind === 'pong') return `pong ${JSON.stringify(item.data.toString('utf8'))}`;
  if (item.kind === 'close') return `close ${item.code} ${JSON.stringify(item.reason)}`;
  return `error ${item.err && item.err.message}`;
}

class StepFailure extends Error {
  constructor(step, details) {
    super(details);
    this.step = step;
  }
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

async function expectEcho(inbox, step, payload, isBinary) {
  const item = await inbox.next();
  if (item.kind !== 'message') throw new StepFailure(step, `want echo, got ${describe(item)}`);
  if (item.isBinary !== isBinary) {
    throw new StepFailure(step, `want ${isBinary ? 'binary' : 'text'} echo, got ${describe(item)}`);
  }
  if (!item.data.equals(payload)) {
    throw new StepFailure(step, `echo differs: want ${payload.length} bytes, got ${item.data.length}, first difference at byte ${firstDifference(item.data, payload)}`);
  }
}

async function runEcho(ws, inbox) {
  for (const isBinary of [false, true]) {
    for (const size of SIZES) {
      const step = `${isBinary ? 'binary' : 'text'}-${size}`;
      const payload = isBinary ? (randomBinary ? crypto.randomBytes(size) : binaryOfSize(size)) : textOfSize(size);
      ws.send(payload, { binary: isBinary });
      await expectEcho(inbox, step, payload, isBinary);
      console.log(`OK ${step}`);
    }
  }

  // One text message in 3 fragments; "€" (E2 82 AC) and "𝄞" (F0 9D 84 9E) are split
  // across the fragment boundaries, so the receiver must validate UTF-8 across frames.
  {
    const whole = Buffer.from('frag-€-ment-𝄞-end', 'utf8');
    const cut1 = whole.indexOf(0xe2) + 1;
    const cut2 = whole.indexOf(0xf0) + 2;
    ws.send(whole.subarray(0, cut1), { binary: false, fin: false });
    ws.send(whole.subarray(cut1, cut2), { binary: false, fin: false });
    ws.send(whole.subarray(cut2), { binary: false, fin: true });
    await expectEcho(inbox, 'fragmented-text', whole, false);
    console.log('OK fragmented-text');
  }

  // One binary message in 3 fragments, the middle one empty, the last one longer
  // than 65535 bytes (64-bit extended length).
  {
    const whole = binaryOfSize(100 + 70000);
    ws.send(whole.subarray(0, 100), { binary: true, fin: false });
    ws.send(whole.subarray(100, 100), { binary: true, fin: false });
    ws.send(whole.subarray(100), { binary: true, fin: true });
    await expectEcho(inbox, 'fragmented-binary', whole, true);
    console.log('OK fragmented-binary');
  }

  {
    ws.ping('hello');
    const item = await inbox.next();
    if (item.kind !== 'pong' || item.data.toString('utf8') !== 'hello') {
      throw new StepFailure('ping', `want pong "hello", got ${describe(item)}`);
    }
    console.log('OK ping');
  }

  {
    ws.close(4001, 'bye');
    let item;
    do {
      item = await inbox.next();
      // Data sent by the server before it saw our close is legal; skip it.
    } while (item.kind === 'message' || item.kind === 'pong');
    if (item.kind !== 'close') throw new StepFailure('close', `want close, got ${describe(item)}`);
    if (item.code !== 4001 || item.reason !== 'bye') {
      throw new StepFailure('close', `want close 4001 "bye", got ${item.code} ${JSON.stringify(item.reason)}`);
    }
    console.log('OK close');
  }
}

async function runWaitClose(ws, inbox) {
  console.log('OPEN');
  ws.send('ready');
  for (;;) {
    const item = await inbox.next();
    if (item.kind === 'message') {
      console.log(`MSG ${item.isBinary ? 'binary' : 'text'} ${item.data.length}`);
    } else if (item.kind === 'close') {
      console.log(`CLOSED ${item.code} ${item.reason}`);
      return;
    } else if (item.kind === 'error') {
      // ws emits 'close' after 'error'; report the error and keep waiting for it.
      process.stderr.write(`error: ${item.err && item.err.message}\n`);
    }
  }
}

function connect(opts) {
  let perMessageDeflate = false;
  if (opts.deflate) {
    // Takeover options are set only to ask for no takeover: ws treats an
    // explicit false as "refuse the other side's request", which RFC 7692
    // allows the other side to make.
    perMessageDeflate = { threshold: 0 };
    if (opts.noContextTakeover) {
      perMessageDeflate.clientNoContextTakeover = true;
      perMessageDeflate.serverNoContextTakeover = true;
    }
    // RFC 7692 §7.1.2: ws offers client_max_window_bits by default; these
    // pin our value and ask the server to limit its window.
    if (opts.clientMaxWindowBits) perMessageDeflate.clientMaxWindowBits = opts.clientMaxWindowBits;
    if (opts.serverMaxWindowBits) perMessageDeflate.serverMaxWindowBits = opts.serverMaxWindowBits;
  }
  const ws = new WebSocket(opts.url, { perMessageDeflate, maxPayload: MAX_MESSAGE });
  const inbox = new Inbox(ws);
  return new Promise((resolve, reject) => {
    let extensions = '';
    ws.once('upgrade', (res) => {
      extensions = res.headers['sec-websocket-extensions'] || '';
    });
    ws.once('open', () => resolve({ ws, inbox, extensions }));
    ws.once('error', (err) => reject(new StepFailure('connect', err.message)));
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.windowPayloads) {
    // The sizes of plainws issue 13, binary ones random.
    SIZES = [0, 1, 300, 5 * 1024, 1024 * 1024];
    randomBinary = true;
  }
  if (opts.maxSize) SIZES = SIZES.filter((n) => n <= opts.maxSize);
  const timer = setTimeout(() => {
    console.log(`FAIL timeout no result within ${OVERALL_TIMEOUT_MS / 1000}s`);
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);
  try {
    const { ws, inbox, extensions } = await connect(opts);
    console.log(`EXT ${extensions}`);
    if (opts.mode === 'wait-close') {
      await runWaitClose(ws, inbox);
    } else {
      await runEcho(ws, inbox);
      console.log('PASS');
    }
    clearTimeout(timer);
    process.exit(0);
  } catch (err) {
    const step = err instanceof StepFailure ? err.step : 'internal';
    console.log(`FAIL ${step} ${err.message}`);
    process.exit(1);
  }
}

main();
