"""An HTTP/1.1 load generator, run as its own process so its cost never lands on the server's.

``python -m bench.loadgen --port P --connections C --duration S PATH [PATH ...]`` keeps C
keep-alive connections busy for S seconds, one request in flight on each, cycling through the
paths, and prints one JSON object: requests, non-200 answers, requests per second, p50 and p99
latency in ms. Written on ``asyncio.Protocol`` rather than an HTTP client library: a client's own
overhead would otherwise cap what it can measure.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time


class _Connection(asyncio.Protocol):
    def __init__(
        self, requests: list[bytes], offset: int, deadline: float, latencies: list[float]
    ) -> None:
        self.requests = requests
        self.index = offset
        self.deadline = deadline
        self.latencies = latencies
        self.errors = 0
        self.buffer = bytearray()
        self.need: int | None = None
        self.status = 0
        self.sent_at = 0.0
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        if self.sent_at >= self.deadline:
            self.transport.close()
            return
        self.transport.write(self.requests[self.index % len(self.requests)])
        self.index += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            self.status = int(head[9:12])
            start = head.find(b"\r\ncontent-length:")
            length = 0
            if start >= 0:
                stop = head.find(b"\r\n", start + 2)
                length = int(head[start + 17 : stop if stop >= 0 else None])
            self.need = end + 4 + length
        if len(self.buffer) < self.need:
            return
        del self.buffer[: self.need]
        self.need = None
        self.latencies.append(time.perf_counter() - self.sent_at)
        if self.status != 200:
            self.errors += 1
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def run(
    host: str, port: int, paths: list[str], connections: int, duration_s: float
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode()
        for path in paths
    ]
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration_s
    conns = []
    for n in range(connections):
        _, conn = await loop.create_connection(
            functools.partial(_Connection, requests, n * 7, deadline, latencies), host, port
        )
        conns.append(conn)
    await asyncio.gather(*(c.closed for c in conns))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return (
            ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000 if ordered else 0.0
        )

    return {
        "requests": len(latencies),
        "errors": sum(c.errors for c in conns),
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    result = asyncio.run(run(args.host, args.port, args.paths, args.connections, args.duration))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
