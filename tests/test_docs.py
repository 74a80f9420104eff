"""The README and the docs site cannot rot: every `--flag` they show in a `paddle-mnist COMMAND ...`
line exists in that command's parser, the README stays short with its language switcher, and
every page exists in both languages (the site builds with `mkdocs build --strict`)."""

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from paddle_mnist.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LANGUAGES = ("zh", "en")
PAGES = [ROOT / "README.md", ROOT / "README_en.md"] + sorted((DOCS / "zh").glob("*.md")) + sorted((DOCS / "en").glob("*.md"))
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
INLINE_CODE = re.compile(r"`([^`]+)`")
MAX_README_LINES = 300


def command_flags():
    """{"train": {"--lr", ...}, "data build": {...}, ...}: every sub-command's option strings."""
    flags = {}

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}".strip())
        if prefix:
            flags[prefix] = {o for a in parser._actions for o in a.option_strings}

    walk(build_parser(), "")
    return flags


def command_lines(text):
    """Every `paddle-mnist ...` command in a Markdown text: lines of code blocks (continuations with a
    trailing backslash joined, comments cut) and inline code spans elsewhere. Yields (line number, text)."""
    fenced, pending = False, None
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            code = line.split(" #", 1)[0]
            if pending is not None:
                code = pending + " " + code
            if code.rstrip().endswith("\\"):
                pending = code.rstrip()[:-1]
                continue
            pending = None
            candidates = [code]
        else:
            candidates = INLINE_CODE.findall(line)
        for candidate in candidates:
            for part in re.split(r"&&|\|\||;", candidate):
                if "paddle-mnist " in part:
                    yield number, part[part.index("paddle-mnist "):]


def unknown_flags(text, flags):
    """[(line number, command, the unknown flag or command)] for every `paddle-mnist` line of `text`."""
    faults = []
    for number, line in command_lines(text):
        words = line.split()[1:]
        if not words or words[0].startswith("-") or words[0] in ("<command>", "<命令>", "COMMAND"):
            continue
        command = words[0].strip("`'\"),.;:")  # a command quoted inside program output: `paddle-mnist optimizers`)
        if len(words) > 1 and f"{command} {words[1]}" in flags:
            command = f"{command} {words[1]}"
        if command not in flags:
            faults.append((number, command, "no such command"))
            continue
        for flag in FLAG.findall(line):
            if flag not in flags[command]:
                faults.append((number, command, flag))
    return faults


def test_the_checker_finds_a_made_up_flag_and_command():
    flags = command_flags()
    text = ("```bash\npaddle-mnist train --lr 0.1 --no-such-flag 3   # --comment-flag is not checked\n"
            "paddle-mnist compare --optimizers sgd \\\n    --made-up 2\n```\n"
            "Inline: `paddle-mnist data build --idx DIR --bogus` and `paddle-mnist frobnicate`.\n")
    assert unknown_flags(text, flags) == [(2, "train", "--no-such-flag"), (4, "compare", "--made-up"),
                                          (6, "data build", "--bogus"), (6, "frobnicate", "no such command")]
    assert unknown_flags("```\npaddle-mnist train --lr 0.1 --start=1,2\n```", flags) == [(2, "train", "--start")]
    assert unknown_flags("```\npaddle-mnist paths --start=-7,2 --lr auto\n```", flags) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_flag_the_docs_show_exists(page):
    assert page.exists()
    text = page.read_text(encoding="utf-8")
    assert list(command_lines(text)), f"{page.name} shows no paddle-mnist command"  # the checker sees the page
    faults = unknown_flags(text, command_flags())
    assert not faults, "\n".join(f"{page.relative_to(ROOT)}:{n}: paddle-mnist {c}: {f}" for n, c, f in faults)


@pytest.mark.parametrize("name, other", [("README.md", "README_en.md"), ("README_en.md", "README.md")])
def test_readme_is_short_and_links_its_other_language(name, other):
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"{name} has {len(lines)} lines (at most {MAX_README_LINES})"
    assert f"]({other})" in lines[0], f"line 1 of {name} must link {other}: {lines[0]!r}"
    text = "\n".join(lines)
    assert "paddlepaddle-gpu" in text and "AI Studio" in text and "paddlepaddle.org.cn" in text


def test_the_chinese_readme_is_chinese():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) > 1000


def test_every_docs_page_has_both_languages_and_every_local_link_resolves():
    pages = {lang: sorted(p.name for p in (DOCS / lang).glob("*.md")) for lang in LANGUAGES}
    assert pages["zh"] and pages["zh"] == pages["en"]
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links {target}, which does not exist"


@pytest.mark.slow
def test_mkdocs_build_strict_passes(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocs_static_i18n") is None:
        pytest.skip('mkdocs is not installed (pip install -e ".[docs]")')
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "en" / "index.html").exists()
    assert "lang=\"zh\"" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
