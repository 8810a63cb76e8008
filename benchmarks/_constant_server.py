"""A bare aiohttp.web server answering every GET with ``{"State":"Running"}``.

For benchmarks that keep thousands of operations pending: the server must not be the
bottleneck, and its answers must stay non-terminal.  Prints its URL, serves until stdin
closes.
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiohttp import web

BODY = b'{"State":"Running"}'


async def handle(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


async def main() -> None:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    fd = sys.stdin.fileno()
    asyncio.get_running_loop().add_reader(fd, lambda: None if os.read(fd, 4096) else stop.set())
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
