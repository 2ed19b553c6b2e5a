#!/usr/bin/env node
// RFC 8441 interoperability client for plainws: WebSockets over HTTP/2, with Node's
// built-in http2 module (no npm package) opening the streams and this script doing the
// WebSocket framing of RFC 6455 itself, client frames masked (§5.3).
//
// Usage: node h2client.js <http://127.0.0.1:port/ | https://127.0.0.1:port/> [--ca cert.pem] [--refused]
//
// It expects the Go server of interop/h2_test.go (echo; "cmd:fragments" answers one
// binary message of 5000 bytes a..z in several frames; "cmd:ping:<p>" makes the server
// ping with <p> and then send text "pong:<p>"; "cmd:close" makes the server close with
// 1001 "going"). It prints one line per step passed and exits 0, or prints FAIL <why>
// and exits 1. With --refused it expects a server that did not enable the extended CONNECT:
// it sends one anyway and prints the stream's reset code. See interop/README.md.
'use strict';

const http2 = require('node:http2');
const crypto = require('node:crypto');
const fs = require('node:fs');

const OVERALL_TIMEOUT_MS = 30 * 1000;

function out(line) { process.stdout.write(line + '\n'); }
function fail(why) { out('FAIL ' + why); process.exit(1); }

function parseArgs(argv) {
  const opts = { url: null, ca: null, refused: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--ca') opts.ca = argv[++i];
    else if (argv[i] === '--refused') opts.refused = true;
    else if (opts.url === null) opts.url = argv[i];
    else fail(`unexpected argument ${argv[i]}`);
  }
  if (opts.url === null) fail('usage: node h2client.js <url> [--ca cert.pem] [--refused]');
  return opts;
}

const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

// WS runs RFC 6455 framing over one HTTP/2 stream.
class WS {
  constructor(stream) {
    this.stream = stream;
    this.buf = Buffer.alloc(0);
    this.frames = [];
    this.waiters = [];
    this.ended = false; // the server's END_STREAM
    this.closed = false;
    stream.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    stream.on('end', () => { this.ended = true; this.wake(); });
    stream.on('close', () => { this.closed = true; this.wake(); });
    stream.on('error', (e) => fail(`stream error ${e.code || e.message}`));
  }

  wake() { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }

  parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const rsv = b[0] & 0x70;
      const op = b[0] & 0x0f;
      if ((b[1] & 0x80) !== 0) fail('server frame is masked (RFC 6455 §5.1 forbids it)');
      if (rsv !== 0) fail(`reserved bits ${rsv} set without an extension`);
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) return;
      this.frames.push({ fin, op, payload: Buffer.from(b.subarray(off, off + len)) });
      this.buf = b.subarray(off + len);
      this.wake();
    }
  }

  async frame() {
    while (this.frames.length === 0) {
      if (this.ended || this.closed) return null;
      await new Promise((r) => this.waiters.push(r));
    }
    return this.frames.shift();
  }

  // message returns the next control frame, or the next data message reassembled from
  // its fragments, with the number of frames it came in.
  async message() {
    const first = await this.frame();
    if (first === null) fail('stream ended while a message was expected');
    if (first.op >= 8) return { op: first.op, data: first.payload, frames: 1 };
    if (first.op === OP.cont) fail('continuation frame without a message');
    const parts = [first.payload];
    let frames = 1;
    let f = first;
    while (!f.fin) {
      f = await this.frame();
      if (f === null) fail('stream ended inside a fragmented message');
      if (f.op >= 8) fail(`control frame ${f.op} inside a message where none was asked for`);
      if (f.op !== OP.cont) fail(`opcode ${f.op} inside a fragmented message`);
      parts.push(f.payload);
      frames++;
    }
    return { op: first.op, data: Buffer.concat(parts), frames };
  }

  send(fin, op, payload) {
    const p = Buffer.from(payload);
    let hdr;
    if (p.length < 126) {
      hdr = Buffer.from([(fin ? 0x80 : 0) | op, 0x80 | p.length]);
    } else if (p.length < 65536) {
      hdr = Buffer.alloc(4);
      hdr[0] = (fin ? 0x80 : 0) | op; hdr[1] = 0x80 | 126; hdr.writeUInt16BE(p.length, 2);
    } else {
      hdr = Buffer.alloc(10);
      hdr[0] = (fin ? 0x80 : 0) | op; hdr[1] = 0x80 | 127; hdr.writeBigUInt64BE(BigInt(p.length), 2);
    }
    const key = crypto.randomBytes(4); // RFC 6455 §5.3: unpredictable
    const masked = Buffer.alloc(p.length);
    for (let i = 0; i < p.length; i++) masked[i] = p[i] ^ key[i & 3];
    this.stream.write(Buffer.concat([hdr, key, masked]));
  }

  async expect(op, data, what) {
    const m = await this.message();
    if (m.op !== op) fail(`${what}: got opcode ${m.op}, want ${op}`);
    if (!m.data.equals(Buffer.from(data))) fail(`${what}: payload differs (${m.data.length} bytes, want ${Buffer.from(data).length})`);
    return m;
  }

  async endStream(what) {
    while (!this.ended && !this.closed) await new Promise((r) => this.waiters.push(r));
    if (!this.ended) fail(`${what}: stream reset (rstCode ${this.stream.rstCode}) before the server's END_STREAM`);
    if (this.frames.length > 0 || this.buf.length > 0) fail(`${what}: bytes after the close frame`);
  }
}

function closePayload(code, reason) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return Buffer.concat([b, Buffer.from(reason)]);
}

function open(session, url) {
  return new Promise((resolve) => {
    const req = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket', // RFC 8441 §4
      ':scheme': url.protocol.replace(':', ''),
      ':path': '/chat',
      ':authority': url.host,
      'sec-websocket-version': '13',
      'sec-websocket-protocol': 'other, chat',
      origin: url.origin,
    }, { endStream: false });
    req.on('response', (h) => {
      if (h[':status'] !== 200) fail(`status ${h[':status']}, want 200`);
      // RFC 8441 §5: no Sec-WebSocket-Accept (there was no key).
      if (h['sec-websocket-accept'] !== undefined) fail('Sec-WebSocket-Accept in an HTTP/2 response');
      resolve({ ws: new WS(req), protocol: h['sec-websocket-protocol'] || '' });
    });
  });
}

async function run(session, url) {
  const a = await open(session, url);
  out(`RESPONSE 200 protocol=${a.protocol}`);
  const b = await open(session, url); // a second WebSocket on the same connection
  out('SECOND STREAM open');
  const ws = a.ws;

  ws.send(true, OP.text, 'hello over h2 ✓');
  await ws.expect(OP.text, 'hello over h2 ✓', 'text echo');
  out('ECHO text');

  const bin = crypto.randomBytes(70000); // a 64-bit length (RFC 6455 §5.2)
  ws.send(true, OP.binary, bin);
  await ws.expect(OP.binary, bin, 'binary echo');
  out('ECHO binary 70000');

  // Three fragments with a ping between them (§5.4: control frames may be interleaved).
  ws.send(false, OP.text, 'frag-');
  ws.send(true, OP.ping, 'p1');
  ws.send(false, OP.cont, 'men-');
  ws.send(true, OP.cont, 'ted');
  await ws.expect(OP.pong, 'p1', 'pong');
  out('PONG p1');
  await ws.expect(OP.text, 'frag-men-ted', 'fragmented echo');
  out('ECHO fragmented');

  ws.send(true, OP.text, 'cmd:fragments');
  const want = Buffer.alloc(5000);
  for (let i = 0; i < want.length; i++) want[i] = 97 + (i % 26);
  const m = await ws.expect(OP.binary, want, 'server fragments');
  if (m.frames < 2) fail(`server message came in ${m.frames} frame, want several`);
  out('FRAGMENTS from server reassembled');

  ws.send(true, OP.text, 'cmd:ping:xyz');
  await ws.expect(OP.ping, 'xyz', 'server ping');
  ws.send(true, OP.pong, 'xyz');
  await ws.expect(OP.text, 'pong:xyz', 'server saw the pong');
  out('PING from server answered');

  // Our closing handshake (§7.1.2): the server echoes the close frame, then ends the
  // stream as a server ends TCP first (§7.1.1; RFC 8441 maps that to END_STREAM).
  ws.send(true, OP.close, closePayload(1000, 'done'));
  await ws.expect(OP.close, closePayload(1000, 'done'), 'close echo');
  await ws.endStream('client close');
  ws.stream.end();
  out('CLOSE 1000 done END_STREAM');

  // The server's closing handshake on the second stream.
  b.ws.send(true, OP.text, 'cmd:close');
  await b.ws.expect(OP.close, closePayload(1001, 'going'), 'server close');
  b.ws.send(true, OP.close, closePayload(1001, 'going'));
  await b.ws.endStream('server close');
  b.ws.stream.end();
  out('SERVER CLOSE 1001 going END_STREAM');
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const url = new URL(opts.url);
  setTimeout(() => fail('timeout'), OVERALL_TIMEOUT_MS).unref();
  const session = http2.connect(url, opts.ca ? { ca: fs.readFileSync(opts.ca) } : {});
  session.on('error', (e) => fail(`session error ${e.code || e.message}`));
  if (opts.refused) {
    // Against RFC 8441 §3, the extended CONNECT goes out although the server's SETTINGS
    // did not allow it: the server must refuse the stream.
    session.once('remoteSettings', (s) => {
      out(`SETTINGS enableConnectProtocol=${Boolean(s.enableConnectProtocol)}`);
      const req = session.request({
        ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': url.protocol.replace(':', ''),
        ':path': '/chat', ':authority': url.host, 'sec-websocket-version': '13',
      }, { endStream: false });
      req.on('response', (h) => fail(`response ${h[':status']} to a refused extended CONNECT`));
      req.on('error', () => {});
      req.on('close', () => {
        out(`RESET ${req.rstCode}`);
        session.close(() => process.exit(0));
      });
    });
    return;
  }
  // RFC 8441 §3: a client may use :protocol only once the server's SETTINGS allow it.
  session.once('remoteSettings', (s) => {
    if (!s.enableConnectProtocol) fail('server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL');
    out('SETTINGS enableConnectProtocol');
    run(session, url).then(() => {
      session.close(() => { out('DONE'); process.exit(0); });
    }, (e) => fail(e.stack || String(e)));
  });
}

main();
