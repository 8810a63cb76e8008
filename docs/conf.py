"""Sphinx configuration: MyST pages, the furo theme, an API reference from the docstrings.

Build (warnings are errors):  python -m sphinx -W --keep-going -n -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sf_progress  # noqa: E402

project = "sf_progress"
author = "the sf_progress authors"
copyright = "2026, the sf_progress authors"
release = sf_progress.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx_click",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_inventories/*.py"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"sf_progress {release}"

# The API reference: every exported name, its docstring (Google style), types in the description.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_class_signature = "separated"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# Offline inventories (CI has no internet beyond the package registries): the names of
# Python's and aiohttp's docs that our signatures use, pointing at the real pages.
# Regenerate with: python docs/_inventories/make.py
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", str(ROOT / "docs" / "_inventories" / "python.inv")),
    "aiohttp": ("https://docs.aiohttp.org/en/stable", str(ROOT / "docs" / "_inventories" / "aiohttp.inv")),
}
nitpicky = True
# Helper types of private modules that appear in public signatures (a token-like object, a
# context manager, a TypeVar) are shown but not linked: the reference documents exports only.
nitpick_ignore_regex = [(r"py:.*", r"sf_progress(\.\w+)*\._\w+(\.\w+)*")]
# The Chaos Toolkit's exceptions (chaoslib.exceptions.ActivityFailed, InterruptExecution) have no API inventory.
nitpick_ignore = [("py:exc", "ActivityFailed"), ("py:exc", "InterruptExecution")]
