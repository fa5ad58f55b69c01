"""The code in docs/testing.md runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_pytest_example_in_docs_testing_md_passes(tmp_path: Path) -> None:
    text = (DOCS / "testing.md").read_text()
    match = re.search(r"## With pytest\n.*?```python\n(.*?)```", text, re.S)
    assert match, "docs/testing.md lost its pytest example"
    (tmp_path / "test_approval.py").write_text(match.group(1))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_approval.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout
