"""The public surface: flat, sorted, complete, and free of aiohttp/tenacity types."""

from __future__ import annotations

import inspect
import typing

import sf_progress
import sf_progress.testing
from sf_progress import OperationState, ProgressClient, is_testing
from sf_progress.testing import FakeCluster
from sf_progress.testing.pytest_plugin import fake_cluster, sf_no_wait  # noqa: F401 - fixtures under test


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and names every public attribute of the package."""
    assert sf_progress.__all__ == sorted(sf_progress.__all__)
    public = {name for name in dir(sf_progress) if not name.startswith("_")}
    assert public - {"testing", "cli"} == set(sf_progress.__all__) - {
        "__version__"
    }  # the subpackage is not re-exported
    assert set(sf_progress.testing.__all__) <= set(dir(sf_progress.testing))


def test_no_aiohttp_or_tenacity_in_signatures() -> None:
    """No public method's signature mentions tenacity; aiohttp only as the injectable session."""
    for name, member in inspect.getmembers(ProgressClient, inspect.isfunction):
        if name.startswith("_") and name != "__init__":
            continue
        hints = typing.get_type_hints(member)
        for hint_name, hint in hints.items():
            text = repr(hint)
            assert "tenacity" not in text, (name, hint_name)
            if "aiohttp" in text:
                assert (name, hint_name) == ("__init__", "session")


def test_version_string() -> None:
    """The package has a version."""
    assert sf_progress.__version__.count(".") == 2


def test_pytest_plugin_no_wait(sf_no_wait: None) -> None:  # noqa: F811
    """The shipped sf_no_wait fixture turns the testing switch on."""
    assert is_testing()


async def test_pytest_plugin_fake_cluster(fake_cluster: FakeCluster) -> None:  # noqa: F811
    """The shipped fake_cluster fixture yields a started cluster."""
    assert fake_cluster.url.startswith("http://127.0.0.1:")
    assert OperationState.COMPLETED.is_terminal
