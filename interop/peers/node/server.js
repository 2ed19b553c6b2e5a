#!/usr/bin/env node
// Interoperability peer server for plainws, built on the npm package `ws`.
//
// Usage: node server.js --port 0 [--deflate] [--no-context-takeover]
//          [--server-max-window-bits N] [--client-max-window-bits N]
//
// Listens on 127.0.0.1 only, prints "LISTENING <port>" once ready, and answers the
// command protocol described in interop/README.md. Behaviour is kept identical to
// interop/peers/python/server.py so that a test can run against either peer.
'use strict';

const { WebSocketServer } = require('ws');

// Largest message either side may send; the brief asks for at least 64 MiB.
const MAX_MESSAGE = 128 * 1024 * 1024;
// Upper bound on what cmd:fragments may ask for, so a command cannot exhaust memory.
const MAX_FRAGMENTS_TOTAL = 64 * 1024 * 1024;

function parseArgs(argv) {
  const opts = { port: 0, deflate: false, noContextTakeover: false, serverMaxWindowBits: 0, clientMaxWindowBits: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') {
      opts.port = Number(argv[++i]);
      if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
        usage(`bad --port ${argv[i]}`);
      }
    } else if (a === '--deflate') {
      opts.deflate = true;
    } else if (a === '--no-context-takeover') {
      opts.noContextTakeover = true;
    } else if (a === '--server-max-window-bits' || a === '--client-max-window-bits') {
      const bits = Number(argv[++i]);
      if (!Number.isInteger(bits) || bits < 8 || bits > 15) usage(`bad ${a} ${argv[i]}`);
      opts[a === '--server-max-window-bits' ? 'serverMaxWindowBits' : 'clientMaxWindowBits'] = bits;
    } else {
      usage(`unknown argument ${a}`);
    }
  }
  return opts;
}

function usage(msg) {
  process.stderr.write(`server.js: ${msg}\nusage: node server.js --port 0 [--deflate] [--no-context-takeover] [--server-max-window-bits N] [--client-max-window-bits N]\n`);
  process.exit(2);
}

// alphabet returns total bytes of the repeating pattern 'a'..'z', starting at 'a'.
function alphabet(total) {
  const buf = Buffer.allocUnsafe(total);
  for (let i = 0; i < total; i++) buf[i] = 97 + (i % 26);
  return buf;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));

  let perMessageDeflate = false; // compression is OFF unless --deflate is given
  if (opts.deflate) {
    // threshold 0: compress every message, however small, so tests exercise
    // the codec. Takeover options are set only to ask for no takeover: ws
    // treats an explicit false as "refuse the client's request", which RFC
    // 7692 §7.1.1 allows a client to make.
    perMessageDeflate = { threshold: 0 };
    if (opts.noContextTakeover) {
      perMessageDeflate.serverNoContextTakeover = true;
      perMessageDeflate.clientNoContextTakeover = true;
    }
    // RFC 7692 §7.1.2: limit our own window, and answer the client's
    // client_max_window_bits offer with this value.
    if (opts.serverMaxWindowBits) perMessageDeflate.serverMaxWindowBits = opts.serverMaxWindowBits;
    if (opts.clientMaxWindowBits) perMessageDeflate.clientMaxWindowBits = opts.clientMaxWindowBits;
  }

  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: opts.port,
    perMessageDeflate,
    maxPayload: MAX_MESSAGE,
    // Accept the subprotocol "chat" if the client offers it; otherwise none
    // (ws would otherwise pick the first offered protocol).
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });

  // Remember the Sec-WebSocket-Extensions value actually sent in each 101 response.
  const extByReq = new WeakMap();
  wss.on('headers', (headers, req) => {
    let value = '';
    for (const line of headers) {
      const m = /^sec-websocket-extensions:\s*(.*)$/i.exec(line);
      if (m) value = m[1];
    }
    extByReq.set(req, value);
  });

  wss.on('listening', () => {
    process.stdout.write(`LISTENING ${wss.address().port}\n`);
  });

  wss.on('error', (err) => {
    process.stderr.write(`server error: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });

  wss.on('connection', (ws, req) => {
    const extensions = extByReq.get(req) || '';
    // Payloads of our pings that still wait for their pong, oldest first.
    const pendingPings = [];

    ws.on('error', (err) => {
      process.stderr.write(`connection error: ${err.message}\n`);
    });

    ws.on('pong', (data) => {
      const payload = data.toString('utf8');
      const idx = pendingPings.indexOf(payload);
      if (idx >= 0) {
        pendingPings.splice(idx, 1);
        ws.send(`pong:${payload}`);
      }
    });

    ws.on('close', (code, reason) => {
      process.stdout.write(`CLOSE ${code} ${reason.toString('utf8')}\n`);
    });

    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.send(data, { binary: true });
        return;
      }
      const text = data.toString('utf8');
      if (!text.startsWith('cmd:')) {
        ws.send(data, { binary: false });
        return;
      }
      try {
        handleCommand(ws, req, extensions, pendingPings, text, data);
      } catch (err) {
        process.stderr.write(`command ${JSON.stringify(text.slice(0, 80))} failed: ${err.message}\n`);
        if (ws.readyState === ws.OPEN) ws.send(`error:${err.message}`);
      }
    });
  });
}

function handleCommand(ws, req, extensions, pendingPings, text, raw) {
  if (text.startsWith('cmd:close:')) {
    const rest = text.slice('cmd:close:'.length);
    const colon = rest.indexOf(':');
    const codeStr = colon >= 0 ? rest.slice(0, colon) : rest;
    const reason = colon >= 0 ? rest.slice(colon + 1) : '';
    if (codeStr === '') {
      ws.close(); // a close frame without a status code
    } else {
      ws.close(Number(codeStr), reason); // throws on an invalid code or a reason over 123 bytes
    }
    return;
  }
  if (text.startsWith('cmd:fragments:')) {
    const parts = text.split(':');
    if (parts.length !== 5) throw new Error('usage cmd:fragments:<n>:<size>:<text|binary>');
    const n = Number(parts[2]);
    const size = Number(parts[3]);
    const kind = parts[4];
    if (!Number.isInteger(n) || n < 1 || !Number.isInteger(size) || size < 0 ||
        n * size > MAX_FRAGMENTS_TOTAL || (kind !== 'text' && kind !== 'binary')) {
      throw new Error('bad cmd:fragments arguments');
    }
    const all = alphabet(n * size);
    // Fragments are written back to back in one tick, so no other data frame
    // can be interleaved with them.
    for (let i = 0; i < n; i++) {
      ws.send(all.subarray(i * size, (i + 1) * size), { binary: kind === 'binary', fin: i === n - 1 });
    }
    return;
  }
  if (text.startsWith('cmd:ping:')) {
    const payload = text.slice('cmd:ping:'.length);
    if (Buffer.byteLength(payload) > 125) throw new Error('ping payload longer than 125 bytes');
    if (pendingPings.length >= 64) throw new Error('too many outstanding pings');
    pendingPings.push(payload);
    ws.ping(payload);
    return;
  }
  if (text.startsWith('cmd:header:')) {
    const name = text.slice('cmd:header:'.length).toLowerCase();
    let value = req.headers[name];
    if (Array.isArray(value)) value = value.join(', ');
    ws.send(value === undefined ? '' : String(value));
    return;
  }
  if (text === 'cmd:subprotocol') {
    ws.send(ws.protocol || '');
    return;
  }
  if (text === 'cmd:extensions') {
    ws.send(extensions);
    return;
  }
  // Unknown "cmd:" text: echo it like any other message.
  ws.send(raw, { binary: false });
}

main();
