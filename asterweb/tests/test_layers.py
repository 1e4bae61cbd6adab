"""The floors of ARCHITECTURE.md (asterweb < accounts < billing < trading < patterns, under the
roof) as the import-linter contract in pyproject.toml: `make test` runs it first, and so does this
test, so the pytest summary shows a breach too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_floor_imports_a_higher_one():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
