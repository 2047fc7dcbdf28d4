"""An open-loop, constant-rate HTTP load generator (wrk2-style), in its own process.

    .venv/bin/python bench/open_loop.py URL BODY_FILE RATE SECONDS [--connections 256]
    .venv/bin/python bench/open_loop.py URL BODY_FILE 0 SECONDS --closed 64

Request ``i`` is due at ``start + i / RATE`` whatever happened to the ones before it, and its
latency is measured from that intended send time, so a stall of the server shows up in every
request that should have been sent meanwhile (no coordinated omission). Requests go out on
keep-alive connections; when every open connection is busy a new one is opened (up to
``--connections``; past that a request waits for one, and the wait counts).

Prints one JSON object: requests sent and answered, errors, the achieved rate, latency
percentiles (ms) and how late the generator itself sent requests (``send_lag_p99_ms``: if
that is not small, the generator did not keep up and the figures are not the server's).

``--closed N`` is a closed loop instead (wrk-style, for machines without ``wrk``): N
connections, each sending its next request when the answer to the last one came; latency from
the send.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit


class _Pool:
    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.freed = asyncio.Condition()

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            if self.idle:
                return self.idle.pop()
            if self.open < self.limit:
                self.open += 1
                try:
                    return await asyncio.open_connection(self.host, self.port)
                except OSError:
                    self.open -= 1
                    raise
            async with self.freed:
                await self.freed.wait()

    async def put(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        """Give a connection back (None: it was closed after an error)."""
        if conn is None:
            self.open -= 1
        else:
            self.idle.append(conn)
        async with self.freed:
            self.freed.notify()


async def _one(pool: _Pool, request: bytes, due: float, out: dict[str, Any]) -> None:
    try:
        conn = await pool.get()
    except OSError:
        out["errors"] += 1
        return
    try:
        reader, writer = conn
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await reader.readexactly(length)
        out["latency"].append(time.perf_counter() - due)
        if status != 200:
            out["errors"] += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        out["errors"] += 1
        conn[1].close()
        conn = None
    finally:
        await pool.put(conn)


async def run(url: str, body: bytes, rate: float, seconds: float, connections: int,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _request(parts.path, host, port, body, headers)
    pool = _Pool(host, port, connections)
    out: dict[str, Any] = {"latency": [], "errors": 0}
    lag: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    i = 0
    while i < total:
        now = time.perf_counter()
        while i < total and start + i / rate <= now:
            due = start + i / rate
            lag.append(now - due)
            task = asyncio.ensure_future(_one(pool, request, due, out))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
    deadline = time.perf_counter() + 30
    while tasks and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    for task in tasks:
        task.cancel()
    elapsed = time.perf_counter() - start
    lat = sorted(out["latency"])
    lag.sort()
    return {"target_rate": rate, "sent": total, "answered": len(lat), "errors": out["errors"],
            "unfinished": len(tasks), "rate": round(len(lat) / max(elapsed, seconds), 1),
            "p50_ms": _q(lat, 0.5), "p90_ms": _q(lat, 0.9), "p99_ms": _q(lat, 0.99),
            "p999_ms": _q(lat, 0.999), "max_ms": _q(lat, 1.0),
            "send_lag_p99_ms": _q(lag, 0.99), "connections": pool.open}


async def closed(url: str, body: bytes, concurrency: int, seconds: float,
                 headers: dict[str, str] | None = None) -> dict[str, Any]:
    """``concurrency`` connections, each sending its next request as soon as it has its
    answer, for ``seconds``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _request(parts.path, host, port, body, headers)
    pool = _Pool(host, port, concurrency)
    out: dict[str, Any] = {"latency": [], "errors": 0}
    start = time.perf_counter()
    end = start + seconds

    async def client() -> None:
        while time.perf_counter() < end:
            await _one(pool, request, time.perf_counter(), out)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat = sorted(out["latency"])
    return {"concurrency": concurrency, "answered": len(lat), "errors": out["errors"],
            "rate": round(len(lat) / elapsed, 1), "p50_ms": _q(lat, 0.5),
            "p99_ms": _q(lat, 0.99), "max_ms": _q(lat, 1.0)}


def _request(path: str, host: str, port: int, body: bytes,
             headers: dict[str, str] | None) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            ).encode() + body


def _q(values: list[float], p: float) -> float | None:
    return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 3) \
        if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("body_file")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--header", action="append", default=[],
                        help="An extra request header, 'Name: value'.")
    parser.add_argument("--closed", type=int, default=0, metavar="N",
                        help="A closed loop of N connections instead (RATE is ignored).")
    args = parser.parse_args()
    with open(args.body_file, "rb") as f:
        body = f.read()
    headers = dict(h.split(": ", 1) for h in args.header)
    coro = closed(args.url, body, args.closed, args.seconds, headers) if args.closed else \
        run(args.url, body, args.rate, args.seconds, args.connections, headers)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
