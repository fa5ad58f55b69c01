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


GLOB_CHARACTERS = set("?*[&")


def _unquoted(command: str) -> str:
    """The characters of a shell command that stand outside any quotes."""
    out, quote = [], ""
    for char in command:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        else:
            out.append(char)
    return "".join(out)


def test_curl_commands_in_the_docs_paste_into_zsh() -> None:
    """zsh takes an unquoted ``?`` or ``[`` as a glob and stops with "no matches
    found"; every URL with one is quoted."""
    pages = [README, *sorted((README.parent / "docs").glob("*.md"))]
    commands = [
        (page.name, line)
        for page in pages
        for line in page.read_text().splitlines()
        if re.match(r"^(\$ )?curl ", line.strip())
    ]
    assert len(commands) >= 5
    for page, line in commands:
        bare = _unquoted(line.split("#", 1)[0])
        assert not GLOB_CHARACTERS & set(bare), f"{page}: quote the URL in: {line}"


def test_the_testing_snippet_skips_two_days(tmp_path: Path) -> None:
    text = README.read_text()
    match = re.search(r"## Testing your workflows\n.*?```python\n(.*?)```", text, re.S)
    assert match, "the README lost its testing snippet"
    script = tmp_path / "approval.py"
    script.write_text(match.group(1) + "    print(env.now().isoformat())\n")
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["cancelled", "2030-01-03T00:00:00+00:00"]
    # it opened no store of its own in the working directory
    assert not (tmp_path / "outlast.db").exists()
