"""The README's first workflow runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_first_workflow_snippet_runs(tmp_path: Path) -> None:
    text = README.read_text()
    match = re.search(r"## A first workflow\n\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its first-workflow snippet"
    script = tmp_path / "first.py"
    script.write_text(match.group(1))
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '["Hello Tokyo!","Hello London!"]'
