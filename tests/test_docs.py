"""The documentation stays true: every Python example on its pages runs as written, and it covers the API."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sf_progress

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
#: The public submodules the API reference documents beside ``sf_progress`` itself.
SUBMODULES = (
    "sf_progress.sync",
    "sf_progress.report",
    "sf_progress.testing",
    "sf_progress.chaostoolkit.actions",
    "sf_progress.chaostoolkit.faults",
    "sf_progress.chaostoolkit.probes",
    "sf_progress.chaostoolkit.rollbacks",
    "sf_progress.chaostoolkit.controls.timings",
    "sf_progress.chaostoolkit.controls.safety",
)


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)


EXAMPLES = [(page, i, block) for page in PAGES for i, block in enumerate(python_blocks(page))]


def test_the_docs_have_examples_to_run() -> None:
    """The collection below is not empty by accident (a changed fence would skip every example)."""
    assert len(EXAMPLES) >= 8
    assert {page.parent.name for page, _, _ in EXAMPLES} >= {"concepts", "howto"}


@pytest.mark.parametrize(
    ("page", "index", "example"),
    EXAMPLES,
    ids=[f"{page.relative_to(DOCS)}#{i}" for page, i, _ in EXAMPLES],
)
def test_every_python_example_runs(
    page: Path, index: int, example: str, examples_running: dict[tuple[Path, int], _Run]
) -> None:
    """Each ```python block runs on its own against the fake cluster, async ones included."""
    returncode, stderr = examples_running[(page, index)].result()
    assert returncode == 0, f"{page.relative_to(ROOT)} example {index}:\n{stderr}"


class _Run:
    """One example, run in its own process, started with all the others (they mostly wait on fakes)."""

    def __init__(self, example: str, tmp: Path) -> None:
        self.err = tmp / f"{id(self)}.err"
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", example], stdout=subprocess.DEVNULL, stderr=err, text=True, cwd=ROOT
            )

    def result(self) -> tuple[int, str]:
        try:
            code = self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, self.err.read_text()


@pytest.fixture(scope="module")
def examples_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[Path, int], _Run]]:
    """Every example started at once, in its own process: the page's run time is the slowest, not the sum."""
    tmp = tmp_path_factory.mktemp("examples")
    runs = {(page, index): _Run(example, tmp) for page, index, example in EXAMPLES}
    yield runs
    for run in runs.values():
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def test_the_api_reference_names_every_export() -> None:
    """docs/api.md documents every name of ``sf_progress.__all__`` and every public submodule."""
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"\.\. auto\w+:: sf_progress\.(\w+)", text))
    assert set(sf_progress.__all__) - {"__version__"} <= documented
    for module in SUBMODULES:
        assert f".. automodule:: {module}" in text


def test_every_page_is_in_the_table_of_contents() -> None:
    """No page is orphaned (Sphinx warns, and -W fails the build, but say it here too)."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        name = page.relative_to(DOCS).with_suffix("").as_posix()
        if name != "index":
            assert f"\n{name}\n" in index, name


def _public_callables() -> list[tuple[str, object]]:
    """Every exported function, and every public method of every exported class (exceptions aside)."""
    modules = {"sf_progress": sf_progress.__all__}
    for name in SUBMODULES:
        modules[name] = importlib.import_module(name).__all__
    found: list[tuple[str, object]] = []
    for module_name, names in modules.items():
        module = importlib.import_module(module_name)
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for attr_name, attr in vars(obj).items():
                    if attr_name.startswith("_") and attr_name != "__call__":
                        continue
                    if isinstance(attr, (staticmethod, classmethod)):
                        attr = attr.__func__
                    if inspect.isfunction(attr):
                        found.append((f"{module_name}.{name}.{attr_name}", attr))
            elif inspect.isfunction(obj):
                found.append((f"{module_name}.{name}", obj))
    return found


def test_every_public_callable_has_a_google_style_docstring() -> None:
    """Each documents its arguments (``Args:``) and what it returns (``Returns:``/``Yields:``)."""
    missing = []
    for name, fn in _public_callables():
        doc = inspect.getdoc(fn) or ""
        signature = inspect.signature(fn)  # type: ignore[arg-type]
        params = [p for p in signature.parameters if p not in ("self", "cls")]
        if not doc:
            missing.append(f"{name}: no docstring")
        if params and "Args:" not in doc:
            missing.append(f"{name}: no Args")
        returns = signature.return_annotation
        if returns not in (inspect.Signature.empty, None, "None") and not ("Returns:" in doc or "Yields:" in doc):
            missing.append(f"{name}: no Returns")
    assert len(_public_callables()) > 80
    assert not missing, "\n".join(missing)


def test_the_classes_users_construct_document_their_arguments() -> None:
    """The classes built by hand (not returned by a call) say what each constructor argument means."""
    from sf_progress.sync import SyncProgressClient
    from sf_progress.testing import FakeCluster, Script

    for cls in (sf_progress.ProgressClient, SyncProgressClient, sf_progress.TLSConfig, sf_progress.RetryPolicy,
                sf_progress.Backoff, FakeCluster, Script):
        doc = inspect.getdoc(cls) or ""
        assert "Args:" in doc, cls
        for name in inspect.signature(cls).parameters:
            assert f"{name.lstrip('*')}:" in doc.split("Args:", 1)[1], f"{cls.__name__}: {name}"
