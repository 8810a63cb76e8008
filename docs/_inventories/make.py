"""Write the offline intersphinx inventories of the names our docs link to in Python's and aiohttp's docs.

CI has no internet beyond the package registries, so ``conf.py`` reads these files instead of
downloading ``objects.inv``; the links still point at the real pages.  Add a name here when the
docs build says a reference to it is missing, then run:  python docs/_inventories/make.py
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

PYTHON = {
    # name: (role, page#anchor)
    "asyncio.AbstractEventLoop": ("py:class", "library/asyncio-eventloop.html#asyncio.AbstractEventLoop"),
    "asyncio.Task": ("py:class", "library/asyncio-task.html#asyncio.Task"),
    "collections.abc.AsyncIterable": ("py:class", "library/collections.abc.html#collections.abc.AsyncIterable"),
    "collections.abc.AsyncIterator": ("py:class", "library/collections.abc.html#collections.abc.AsyncIterator"),
    "collections.abc.Awaitable": ("py:class", "library/collections.abc.html#collections.abc.Awaitable"),
    "collections.abc.Callable": ("py:class", "library/collections.abc.html#collections.abc.Callable"),
    "collections.abc.Iterable": ("py:class", "library/collections.abc.html#collections.abc.Iterable"),
    "collections.abc.Iterator": ("py:class", "library/collections.abc.html#collections.abc.Iterator"),
    "collections.abc.Mapping": ("py:class", "library/collections.abc.html#collections.abc.Mapping"),
    "collections.abc.Sequence": ("py:class", "library/collections.abc.html#collections.abc.Sequence"),
    "datetime.datetime": ("py:class", "library/datetime.html#datetime.datetime"),
    "datetime.timedelta": ("py:class", "library/datetime.html#datetime.timedelta"),
    "enum.Enum": ("py:class", "library/enum.html#enum.Enum"),
    "os.PathLike": ("py:class", "library/os.html#os.PathLike"),
    "pathlib.Path": ("py:class", "library/pathlib.html#pathlib.Path"),
    "ssl.SSLContext": ("py:class", "library/ssl.html#ssl.SSLContext"),
    "typing.Any": ("py:data", "library/typing.html#typing.Any"),
    "typing.Protocol": ("py:class", "library/typing.html#typing.Protocol"),
    "uuid.UUID": ("py:class", "library/uuid.html#uuid.UUID"),
    "ValueError": ("py:exception", "library/exceptions.html#ValueError"),
    "TypeError": ("py:exception", "library/exceptions.html#TypeError"),
    "RuntimeError": ("py:exception", "library/exceptions.html#RuntimeError"),
    "TimeoutError": ("py:exception", "library/exceptions.html#TimeoutError"),
    "KeyboardInterrupt": ("py:exception", "library/exceptions.html#KeyboardInterrupt"),
    "Exception": ("py:exception", "library/exceptions.html#Exception"),
    "BaseException": ("py:exception", "library/exceptions.html#BaseException"),
    "OSError": ("py:exception", "library/exceptions.html#OSError"),
    "str": ("py:class", "library/stdtypes.html#str"),
    "int": ("py:class", "library/functions.html#int"),
    "float": ("py:class", "library/functions.html#float"),
    "bool": ("py:class", "library/functions.html#bool"),
    "bytes": ("py:class", "library/stdtypes.html#bytes"),
    "dict": ("py:class", "library/stdtypes.html#dict"),
    "list": ("py:class", "library/stdtypes.html#list"),
    "tuple": ("py:class", "library/stdtypes.html#tuple"),
    "set": ("py:class", "library/stdtypes.html#set"),
    "frozenset": ("py:class", "library/stdtypes.html#frozenset"),
    "object": ("py:class", "library/functions.html#object"),
    "type": ("py:class", "library/functions.html#type"),
    "None": ("py:data", "library/constants.html#None"),
}
AIOHTTP = {
    "aiohttp.ClientSession": ("py:class", "client_reference.html#aiohttp.ClientSession"),
    "aiohttp.client.ClientSession": ("py:class", "client_reference.html#aiohttp.ClientSession"),
    "aiohttp.TCPConnector": ("py:class", "client_reference.html#aiohttp.TCPConnector"),
}


def write(path: Path, project: str, version: str, names: dict[str, tuple[str, str]]) -> None:
    header = f"# Sphinx inventory version 2\n# Project: {project}\n# Version: {version}\n"
    header += "# The remainder of this file is compressed using zlib.\n"
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, (role, uri) in sorted(names.items()))
    path.write_bytes(header.encode() + zlib.compress(body.encode()))


if __name__ == "__main__":
    write(HERE / "python.inv", "Python", "3", PYTHON)
    write(HERE / "aiohttp.inv", "aiohttp", "3", AIOHTTP)
