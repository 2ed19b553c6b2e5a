#!/usr/bin/python3
"""Interoperability peer server for plainws, built on Python's `websockets`.

Usage: /usr/bin/python3 server.py --port 0 [--deflate] [--no-context-takeover]
       [--server-max-window-bits N] [--client-max-window-bits N]

Written for Debian's python3-websockets (10.x, the legacy asyncio API). Listens on
127.0.0.1 only, prints "LISTENING <port>" once ready, and answers the command protocol
described in interop/README.md, exactly like interop/peers/node/server.js.
"""

import argparse
import asyncio
import sys

import websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Close, Opcode

# Largest message either side may send; the brief asks for at least 64 MiB.
MAX_MESSAGE = 128 * 1024 * 1024
# Upper bound on what cmd:fragments may ask for, so a command cannot exhaust memory.
MAX_FRAGMENTS_TOTAL = 64 * 1024 * 1024
MAX_PENDING_PINGS = 64


def out(line):
    print(line, flush=True)


def alphabet(total):
    """Return total bytes of the repeating pattern 'a'..'z', starting at 'a'."""
    pattern = bytes(range(ord("a"), ord("z") + 1))
    return (pattern * (total // 26 + 1))[:total]


class CommandError(Exception):
    pass


class Session:
    """One accepted connection."""

    def __init__(self, ws):
        self.ws = ws
        # Serialises data messages: a "pong:" reply must never land between the
        # fragments of a cmd:fragments message.
        self.send_lock = asyncio.Lock()
        self.tasks = set()

    async def send(self, message):
        async with self.send_lock:
            await self.ws.send(message)

    async def send_fragments(self, n, size, binary):
        data = alphabet(n * size)
        opcode = Opcode.BINARY if binary else Opcode.TEXT
        async with self.send_lock:
            # websockets' own send(iterable) appends an extra empty final frame;
            # write exactly n frames instead.
            for i in range(n):
                chunk = data[i * size:(i + 1) * size]
                await self.ws.write_frame(i == n - 1, opcode if i == 0 else Opcode.CONT, chunk)

    async def ping_then_report(self, payload):
        try:
            waiter = await self.ws.ping(payload.encode("utf-8"))
            await waiter
            await self.send("pong:" + payload)
        except websockets.ConnectionClosed:
            pass

    async def command(self, text):
        if text.startswith("cmd:close:"):
            code_str, _, reason = text[len("cmd:close:"):].partition(":")
            if code_str == "":
                # A close frame without a status code (RFC 6455 §5.5.1 allows an empty body).
                await self.ws.write_close_frame(Close(1005, ""), b"")
                await self.ws.wait_closed()
            else:
                try:
                    code = int(code_str)
                except ValueError:
                    raise CommandError("bad close code " + repr(code_str))
                close = Close(code, reason)
                # Validate before close(): websockets marks the connection CLOSING before it
                # checks the code, so a bad code would leave the connection hanging.
                close.check()
                if len(close.serialize()) > 125:
                    # RFC 6455 §5.5: control frame payloads are at most 125 bytes.
                    raise CommandError("close reason longer than 123 bytes")
                await self.ws.close(code, reason)
            return
        if text.startswith("cmd:fragments:"):
            parts = text.split(":")
            if len(parts) != 5:
                raise CommandError("usage cmd:fragments:<n>:<size>:<text|binary>")
            try:
                n, size = int(parts[2]), int(parts[3])
            except ValueError:
                raise CommandError("bad cmd:fragments arguments")
            kind = parts[4]
            if n < 1 or size < 0 or n * size > MAX_FRAGMENTS_TOTAL or kind not in ("text", "binary"):
                raise CommandError("bad cmd:fragments arguments")
            await self.send_fragments(n, size, kind == "binary")
            return
        if text.startswith("cmd:ping:"):
            payload = text[len("cmd:ping:"):]
            if len(payload.encode("utf-8")) > 125:
                raise CommandError("ping payload longer than 125 bytes")
            self.tasks = {t for t in self.tasks if not t.done()}
            if len(self.tasks) >= MAX_PENDING_PINGS:
                raise CommandError("too many outstanding pings")
            self.tasks.add(asyncio.ensure_future(self.ping_then_report(payload)))
            return
        if text.startswith("cmd:header:"):
            name = text[len("cmd:header:"):]
            await self.send(", ".join(self.ws.request_headers.get_all(name)))
            return
        if text == "cmd:subprotocol":
            await self.send(self.ws.subprotocol or "")
            return
        if text == "cmd:extensions":
            await self.send(self.ws.response_headers.get("Sec-WebSocket-Extensions", ""))
            return
        # Unknown "cmd:" text: echo it like any other message.
        await self.send(text)

    async def run(self):
        try:
            async for message in self.ws:
                if isinstance(message, str) and message.startswith("cmd:"):
                    try:
                        await self.command(message)
                    except (CommandError, ValueError, TypeError, websockets.exceptions.ProtocolError) as err:
                        print("command %r failed: %s" % (message[:80], err), file=sys.stderr, flush=True)
                        await self.send("error:%s" % err)
                else:
                    await self.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            for t in self.tasks:
                t.cancel()
            await self.ws.wait_closed()
            # close_code / close_reason are what the client sent: 1005 for a close
            # frame without a code, 1006 if no close frame arrived at all.
            out("CLOSE %s %s" % (self.ws.close_code, self.ws.close_reason or ""))


async def handler(ws, path=None):
    await Session(ws).run()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--no-context-takeover", action="store_true")
    parser.add_argument("--server-max-window-bits", type=int, choices=range(8, 16))
    parser.add_argument("--client-max-window-bits", type=int, choices=range(8, 16))
    args = parser.parse_args()

    extensions = None
    if args.deflate:
        # RFC 7692 §7.1.2: limit our own window, and require the client to
        # limit its window to this value.
        extensions = [
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=args.no_context_takeover,
                client_no_context_takeover=args.no_context_takeover,
                server_max_window_bits=args.server_max_window_bits,
                client_max_window_bits=args.client_max_window_bits,
            )
        ]

    server = await websockets.serve(
        handler,
        "127.0.0.1",
        args.port,
        subprotocols=["chat"],
        extensions=extensions,
        compression=None,  # compression is OFF unless --deflate set `extensions`
        max_size=MAX_MESSAGE,
        max_queue=16,
        ping_interval=None,  # no keepalive pings of our own: tests stay deterministic
        close_timeout=5,
    )
    port = server.sockets[0].getsockname()[1]
    out("LISTENING %d" % port)
    await asyncio.Future()  # run until killed


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
