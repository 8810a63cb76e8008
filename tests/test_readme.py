"""README stays true: its example runs as written, and CI runs its commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_example_runs() -> None:
    """The first Python block of the README runs and prints the final state."""
    example = blocks("python")[0]
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Completed RestartPartitionResult(error_code=0")
    assert lines[1] == "{<OutcomeKind.COMPLETED: 'completed'>: 20}"
    assert lines[2] == "404 FABRIC_E_KEY_NOT_FOUND"


def test_every_python_block_runs() -> None:
    """Every ```python block of the README runs as written (the others are ```text/console)."""
    for example in blocks("python")[1:]:
        result = subprocess.run(
            [sys.executable, "-c", example], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
        )
        assert result.returncode == 0, result.stderr


def test_ci_runs_the_readme_commands() -> None:
    """.ci/run contains the README's install, test and docs commands, in that order."""
    commands = [line.strip() for block in blocks("console") for line in block.splitlines()]
    install, docs_install = [c for c in commands if c.startswith("python -m pip install")]
    (test,) = [c for c in commands if c.startswith("python -m pytest")]
    (docs,) = [c for c in commands if c.startswith("python -m sphinx")]
    assert "-W" in docs.split()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in (install, test, docs_install, docs):
        assert command in ci, command
    assert ci.index(install) < ci.index(test) < ci.index(docs_install) < ci.index(docs)


def test_the_readme_is_short() -> None:
    """The README is a front page (what, features, commands, one example, links): the rest is in docs/."""
    assert len(README.splitlines()) <= 150
