"""The README documents every setting smspipe reads, and its two set-up commands."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_every_setting_is_in_the_readme():
    source = (ROOT / "common" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    settings = set(re.findall(r'"(SMSPIPE_[A-Z_]+)"', source))
    assert settings
    assert sorted(name for name in settings if name not in readme and not _prefixed(name, readme)) == []


def _prefixed(name: str, readme: str) -> bool:
    """``SMSPIPE_WORKER_METRICS_HOST`` is listed as ``SMSPIPE_WORKER_METRICS_PORT``, ``_HOST``."""
    stem, _, suffix = name.rpartition("_")
    return f"_{suffix}`" in readme and any(line.startswith(f"| `{stem}") for line in readme.splitlines())


def test_readme_first_screen_has_the_two_commands():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    assert "pip install -e . && smspipe dev" in first_screen
    assert "pip install -e '.[test]' && pytest" in first_screen


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = next(line for line in readme.splitlines() if line.endswith("pip install -e '.[test]' && pytest"))
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
