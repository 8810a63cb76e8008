"""The wire: transport, URLs, answers, calls, auth and TLS -- where aiohttp errors become ours."""
