"""The public surface: flat, sorted, complete, and free of aiohttp/tenacity types."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

import sf_progress
import sf_progress.testing
from sf_progress import OperationState, ProgressClient, is_testing
from sf_progress.testing import FakeCluster
from sf_progress.testing.pytest_plugin import fake_cluster, sf_no_wait  # noqa: F401 - fixtures under test


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and names every public attribute of the package."""
    assert sf_progress.__all__ == sorted(sf_progress.__all__)
    public = {name for name in dir(sf_progress) if not name.startswith("_")}
    assert public - {"testing", "cli", "sync", "chaostoolkit", "report"} == set(sf_progress.__all__) - {
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


def _private_imports(path: Path) -> list[str]:
    """Every import in *path* of a private module of sf_progress (``sf_progress._x`` or ``.._x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            absolute = module.split(".")
            if node.level == 0 and absolute[0] == "sf_progress" and len(absolute) > 1 and absolute[1].startswith("_"):
                found.append(f"{path.name}: from {module} import ...")
            if node.level >= 2 and module.split(".")[0].startswith("_"):
                found.append(f"{path.name}: from {'.' * node.level}{module} import ...")
            if node.level >= 2 and not module:
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                found.extend(f"{path.name}: from {'.' * node.level} import {name}" for name in private)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "sf_progress" and len(parts) > 1 and parts[1].startswith("_"):
                    found.append(f"{path.name}: import {alias.name}")
    return found


@pytest.mark.parametrize(("layer", "least"), [("cli", 8), ("chaostoolkit", 6), ("report", 3)])
def test_the_cli_the_chaos_toolkit_layer_and_the_report_use_only_the_public_api(layer: str, least: int) -> None:
    """``cli/``, ``chaostoolkit/`` and ``report/`` import nothing private of the library (their own
    private modules are their own): each is a client of the public API, as a user's code is."""
    folder = Path(sf_progress.__file__).parent / layer
    files = sorted(folder.glob("*.py"))
    assert len(files) >= least
    found = [line for path in files for line in _private_imports(path)]
    assert found == []


def test_the_private_import_check_would_catch_one(tmp_path: Path) -> None:
    """The check above is not vacuous: each spelling of a private import is caught."""
    source = tmp_path / "bad.py"
    source.write_text(
        "from .._run import x\nfrom sf_progress._kinds import KINDS\nimport sf_progress._wait.engine\n"
        "from .. import _config\nfrom .. import ProgressClient\nfrom ._io import y\n"
    )
    assert len(_private_imports(source)) == 4


def test_every_exported_name_has_a_docstring_and_no_public_signature_says_any_needlessly() -> None:
    """Exported classes and functions are documented; only the documented run-time-kind hook takes Any."""
    for name in sf_progress.__all__:
        value = getattr(sf_progress, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
    allowed = {("wait_for_completion", "on_progress")}  # the model follows the ref's kind at run time
    for name, member in inspect.getmembers(ProgressClient, inspect.isfunction):
        if name.startswith("_") and name != "__init__":
            continue
        for hint_name, hint in typing.get_type_hints(member).items():
            if "typing.Any" in repr(hint):
                assert (name, hint_name) in allowed, (name, hint_name, hint)
