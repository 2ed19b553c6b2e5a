#!/usr/bin/python3
"""Interoperability peer client for plainws, built on Python's `websockets`.

Usage: /usr/bin/python3 client.py <url> [--deflate] [--no-context-takeover] [--mode echo|wait-close]
       [--server-max-window-bits N] [--client-max-window-bits N] [--window-payloads] [--max-size N]

Written for Debian's python3-websockets (10.x, the legacy asyncio API). echo mode checks,
step by step, that the server at <url> echoes every message with identical bytes and type,
answers a ping, and completes the closing handshake; wait-close mode prints what the server
sends until the server closes. Output matches interop/peers/node/client.js (interop/README.md).
"""

import argparse
import asyncio
import os
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Opcode

MAX_MESSAGE = 128 * 1024 * 1024
OVERALL_TIMEOUT = 30.0
SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024]


def out(line):
    print(line, flush=True)


class StepFailure(Exception):
    def __init__(self, step, details):
        super().__init__(details)
        self.step = step


def text_of_size(n):
    """Return exactly n bytes of valid UTF-8 mixing 1- to 4-byte characters.

    Where a multi-byte character would not fit, ASCII 'x' pads the end. The Node client
    builds the same bytes.
    """
    cycle = ["p", "l", "a", "i", "n", "w", "s", " ", "é", "ß", "€", "✓", "𝄞", "😀", "\n"]
    parts = []
    used = 0
    k = 0
    while used < n:
        b = cycle[k % len(cycle)].encode("utf-8")
        k += 1
        if len(b) > n - used:
            b = b"x"
        parts.append(b)
        used += len(b)
    return b"".join(parts)


def binary_of_size(n):
    """Return n deterministic bytes covering every byte value."""
    return bytes((i * 31 + 7) & 0xFF for i in range(n))


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


def describe(msg):
    if isinstance(msg, str):
        return "text message of %d bytes" % len(msg.encode("utf-8"))
    return "binary message of %d bytes" % len(msg)


async def recv(ws, step):
    try:
        return await ws.recv()
    except websockets.ConnectionClosed as err:
        raise StepFailure(step, "connection closed instead of echo: %s" % err)


async def expect_echo(ws, step, payload, binary):
    msg = await recv(ws, step)
    if binary != isinstance(msg, bytes):
        raise StepFailure(step, "want %s echo, got %s" % ("binary" if binary else "text", describe(msg)))
    got = msg if binary else msg.encode("utf-8")
    if got != payload:
        raise StepFailure(
            step,
            "echo differs: want %d bytes, got %d, first difference at byte %d"
            % (len(payload), len(got), first_difference(got, payload)),
        )


async def run_echo(ws):
    for binary in (False, True):
        for size in SIZES:
            step = "%s-%d" % ("binary" if binary else "text", size)
            if binary:
                payload = binary_of_size(size)
                await ws.send(payload)
            else:
                payload = text_of_size(size)
                await ws.send(payload.decode("utf-8"))
            await expect_echo(ws, step, payload, binary)
            out("OK " + step)

    # One text message in 3 fragments; "€" (E2 82 AC) and "𝄞" (F0 9D 84 9E) are split
    # across the fragment boundaries, so the receiver must validate UTF-8 across frames.
    # websockets' send() only fragments whole str objects, hence write_frame.
    whole = "frag-€-ment-𝄞-end".encode("utf-8")
    cut1 = whole.index(b"\xe2") + 1
    cut2 = whole.index(b"\xf0") + 2
    await ws.write_frame(False, Opcode.TEXT, whole[:cut1])
    await ws.write_frame(False, Opcode.CONT, whole[cut1:cut2])
    await ws.write_frame(True, Opcode.CONT, whole[cut2:])
    await expect_echo(ws, "fragmented-text", whole, False)
    out("OK fragmented-text")

    # One binary message in 3 fragments, the middle one empty, the last one longer than
    # 65535 bytes (64-bit extended length).
    whole = binary_of_size(100 + 70000)
    await ws.write_frame(False, Opcode.BINARY, whole[:100])
    await ws.write_frame(False, Opcode.CONT, b"")
    await ws.write_frame(True, Opcode.CONT, whole[100:])
    await expect_echo(ws, "fragmented-binary", whole, True)
    out("OK fragmented-binary")

    # websockets resolves the waiter only when a pong with the same payload arrives.
    try:
        waiter = await ws.ping(b"hello")
        await waiter
    except websockets.ConnectionClosed as err:
        raise StepFailure("ping", "connection closed before pong: %s" % err)
    out("OK ping")

    await ws.close(4001, "bye")
    if ws.close_code != 4001 or ws.close_reason != "bye":
        raise StepFailure("close", "want close 4001 'bye', got %s %r" % (ws.close_code, ws.close_reason))
    out("OK close")


async def run_wait_close(ws):
    out("OPEN")
    await ws.send("ready")
    try:
        async for msg in ws:
            if isinstance(msg, str):
                out("MSG text %d" % len(msg.encode("utf-8")))
            else:
                out("MSG binary %d" % len(msg))
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    out("CLOSED %s %s" % (ws.close_code, ws.close_reason or ""))


async def run(args):
    extensions = None
    if args.deflate:
        # RFC 7692 §7.1.2: offer client_max_window_bits (with a value if
        # given), and ask the server to limit its window if told to.
        factory = ClientPerMessageDeflateFactory(
            server_no_context_takeover=args.no_context_takeover,
            client_no_context_takeover=args.no_context_takeover,
            server_max_window_bits=args.server_max_window_bits,
            client_max_window_bits=args.client_max_window_bits or True,
        )
        extensions = [factory]
    try:
        ws = await websockets.connect(
            args.url,
            extensions=extensions,
            compression=None,  # compression is OFF unless --deflate set `extensions`
            max_size=MAX_MESSAGE,
            max_queue=16,
            ping_interval=None,
            close_timeout=5,
        )
    except Exception as err:  # noqa: BLE001 - any connect failure is a FAIL line
        raise StepFailure("connect", "%s: %s" % (type(err).__name__, err))
    out("EXT " + ws.response_headers.get("Sec-WebSocket-Extensions", ""))
    if args.mode == "wait-close":
        await run_wait_close(ws)
    else:
        await run_echo(ws)
        out("PASS")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--no-context-takeover", action="store_true")
    parser.add_argument("--mode", choices=["echo", "wait-close"], default="echo")
    parser.add_argument("--server-max-window-bits", type=int, choices=range(8, 16))
    parser.add_argument("--client-max-window-bits", type=int, choices=range(8, 16))
    parser.add_argument("--window-payloads", action="store_true")
    parser.add_argument("--max-size", type=int, default=0)
    args = parser.parse_args()
    global SIZES, binary_of_size
    if args.window_payloads:
        # The sizes of plainws issue 13, binary ones random.
        SIZES = [0, 1, 300, 5 * 1024, 1024 * 1024]
        binary_of_size = os.urandom
    if args.max_size:
        SIZES = [n for n in SIZES if n <= args.max_size]
    try:
        asyncio.run(asyncio.wait_for(run(args), OVERALL_TIMEOUT))
    except asyncio.TimeoutError:
        out("FAIL timeout no result within %ds" % OVERALL_TIMEOUT)
        sys.exit(1)
    except StepFailure as err:
        out("FAIL %s %s" % (err.step, err))
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - report, never a bare traceback
        out("FAIL internal %s: %s" % (type(err).__name__, err))
        sys.exit(1)


if __name__ == "__main__":
    main()
