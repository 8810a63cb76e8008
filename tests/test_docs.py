"""The documentation stays true: every Python example on its pages runs as written, and it covers the API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import sf_progress

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


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
def test_every_python_example_runs(page: Path, index: int, example: str) -> None:
    """Each ```python block runs on its own against the fake cluster, async ones included."""
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )
    assert result.returncode == 0, f"{page.relative_to(ROOT)} example {index}:\n{result.stderr}"


def test_the_api_reference_names_every_export() -> None:
    """docs/api.md documents every name of ``sf_progress.__all__`` and every public submodule."""
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"\.\. auto\w+:: sf_progress\.(\w+)", text))
    assert set(sf_progress.__all__) - {"__version__"} <= documented
    for module in ("sf_progress.sync", "sf_progress.report", "sf_progress.testing", "sf_progress.chaostoolkit.actions",
                   "sf_progress.chaostoolkit.probes", "sf_progress.chaostoolkit.rollbacks"):
        assert f".. automodule:: {module}" in text


def test_every_page_is_in_the_table_of_contents() -> None:
    """No page is orphaned (Sphinx warns, and -W fails the build, but say it here too)."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        name = page.relative_to(DOCS).with_suffix("").as_posix()
        if name != "index":
            assert f"\n{name}\n" in index, name
