"""A minimal, fast SMTP sink for benchmarks: asyncio, accepts everything, keeps nothing.

aiosmtpd caps any client at about 130 messages/s here, so it cannot be the sink for a
throughput benchmark. This one parses only what it must: command lines, and the end of
DATA (CRLF.CRLF). Run: python benchmarks/sink.py PORT [LOG]  (prints "ready", counts on
exit). With LOG, each accepted message appends "recipient Message-ID" to that file, flushed
before the 250 goes out (kill_resume.py reads it to count copies and Message-IDs).
"""

from __future__ import annotations

import asyncio
import signal
import sys


class Session(asyncio.Protocol):
    count = 0
    log = None  # an open file, or None

    def __init__(self) -> None:
        self.rcpt = b""
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        self.in_data = False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while buffer:
            if self.in_data:
                if Session.log is not None and len(self.head) < 4096:
                    self.head += buffer[: 4096 - len(self.head)]
                end = buffer.find(b"\r\n.\r\n")
                if end < 0:
                    self.buffer = buffer[-4:]  # the terminator may straddle two reads
                    return
                buffer = buffer[end + 5 :]
                self.in_data = False
                Session.count += 1
                if Session.log is not None:
                    Session.log.write(self.rcpt + b" " + _message_id(self.head) + b"\n")
                    Session.log.flush()
                    self.head = b""
                self.transport.write(b"250 2.0.0 queued\r\n")
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                break
            line, buffer = buffer[:end], buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"RCPT":
                self.rcpt = line[8:].strip(b" <>")
            if verb in (b"EHLO", b"HELO"):
                self.transport.write(b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.transport.write(b"354 go ahead\r\n")
                buffer = b"\r\n" + buffer  # so an empty body's terminator is still found
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 OK\r\n")
        self.buffer = buffer


def _message_id(head: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line[:11].lower() == b"message-id:":
            return line[11:].strip()
    return b"-"


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Session, "127.0.0.1", port, backlog=128)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    print(Session.count, flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        Session.log = open(sys.argv[2], "ab")  # noqa: SIM115 (open for the process's life)
    asyncio.run(main(int(sys.argv[1])))
