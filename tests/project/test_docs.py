"""The documentation cannot drift from the code: the configuration reference is regenerated here
and compared, and the README's commands are the ones CI runs."""

from __future__ import annotations

import difflib
import importlib
import re
from pathlib import Path

import pytest

from scripts import config_docs

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_matches_the_config_classes():
    """docs/configuration.md is what the DefaultConfig classes and their comments say today."""
    expected = config_docs.render()
    current = config_docs.OUTPUT.read_text()
    if current != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "docs/configuration.md",
                    "generated",
                )
            )[:40]
        )
        pytest.fail(
            "docs/configuration.md is out of date with the DefaultConfig classes: regenerate it "
            f"with `make docs` (python -m scripts.config_docs).\n{diff}"
        )


def test_every_setting_of_every_service_is_in_the_reference():
    text = config_docs.OUTPUT.read_text()
    for service in config_docs.SERVICES:
        config = importlib.import_module(service.module).DefaultConfig
        names = [name for name in vars(config) if name.isupper()]
        assert names
        for name in names:
            assert f"`{service.prefix}{name}`" in text


SOURCE = """
class DefaultConfig:
    #: Seconds a thing lives,
    #: in one sentence over two lines.
    THING_TTL = 3_600
    #: Both cookie flags.
    COOKIE_HTTPONLY = True
    COOKIE_SAMESITE = "Lax"

    # A plain comment documents nothing.
    UNDOCUMENTED = 1
"""


def test_a_setting_without_a_doc_comment_stops_the_generator():
    values = {"THING_TTL": 3600, "COOKIE_HTTPONLY": True, "COOKIE_SAMESITE": "Lax"}
    with pytest.raises(config_docs.UndocumentedSetting, match="UNDOCUMENTED"):
        config_docs.documented_settings(SOURCE, values.get)


def test_comments_document_the_setting_below_and_those_assigned_right_after_it():
    source = SOURCE.split("\n\n    # A plain")[0]
    values = {"THING_TTL": 3600, "COOKIE_HTTPONLY": True, "COOKIE_SAMESITE": "Lax"}
    settings = config_docs.documented_settings(source, values.get)
    assert [(s.names, s.doc) for s in settings] == [
        (("THING_TTL",), "Seconds a thing lives, in one sentence over two lines."),
        (("COOKIE_HTTPONLY", "COOKIE_SAMESITE"), "Both cookie flags."),
    ]
    assert config_docs.default_text(3600, settings[0].doc) == "`3600` (1 hour)"
    assert config_docs.default_text(None, "") == "unset"
    assert config_docs.default_text(False, "") == "`false`"


def test_the_readme_opens_with_the_commands_ci_runs():
    """`make serve` and `make test` come first in the README, and .ci/run runs `make test`."""
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make serve", "make test"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "make test" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


#: The contract is maintained outside this repository; CI checks out ``shared/`` beside it.
SHARED_SPEC = ROOT.parent / "shared" / "SPEC.md"


def spec_copy_problem(shared: Path, copy: Path) -> str | None:
    """Why ``copy`` is not the shared contract, or None when it is."""
    if not copy.exists():
        return f"{copy.relative_to(ROOT)} is missing: copy it over (cp {shared} {copy})"
    if copy.read_bytes() != shared.read_bytes():
        return (
            f"{copy.relative_to(ROOT)} differs from {shared}: copy it over (cp {shared} {copy}), "
            "and change the code and docs with it"
        )
    return None


@pytest.mark.skipif(not SHARED_SPEC.exists(), reason=f"no shared contract at {SHARED_SPEC}")
def test_the_contract_in_the_repository_is_the_shared_one():
    """docs/SPEC.md is the contract the code follows, kept in the repository with it."""
    problem = spec_copy_problem(SHARED_SPEC, ROOT / "docs" / "SPEC.md")
    assert problem is None, problem


def test_a_contract_that_differs_is_named_with_the_command_to_fix_it(tmp_path):
    shared = tmp_path / "SPEC.md"
    copy = ROOT / "docs" / "SPEC.md"
    shared.write_bytes(copy.read_bytes())
    assert spec_copy_problem(shared, copy) is None
    shared.write_bytes(copy.read_bytes() + b"\nA new rule.\n")
    problem = spec_copy_problem(shared, copy)
    assert problem is not None and "copy it over" in problem and f"cp {shared}" in problem


#: The documents whose relative links must lead somewhere. docs/SPEC.md is a copy of a file kept
#: elsewhere, so its links (none today) are not ours to fix.
LINKED_DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "examples" / "demo_client" / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "SPEC.md"),
]

FENCE = re.compile(r"^(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^()\s]+)\)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("", line) if not line.startswith("#") else line)
    return lines


def heading_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in prose_lines(path.read_text()):
        match = re.match(r"^#{1,6} (.+?)\s*#*$", line)
        if match:
            anchor = base = heading_anchor(match.group(1))
            count = 0
            while anchor in found:  # GitHub numbers repeated headings: x, x-1, x-2
                count += 1
                anchor = f"{base}-{count}"
            found.add(anchor)
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for line in prose_lines(path.read_text()):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{target}: no heading with that anchor in {linked.name}")
    return broken


@pytest.mark.parametrize("path", LINKED_DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(path):
    assert broken_links(path) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Where it lives: `here` → there\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[fine](other.md#where-it-lives-here--there) [fine](#page) [web](https://example.com)\n"
        "[gone](missing.md) [wrong](other.md#nowhere) [self](#nothing)\n"
        "```\n[in code](missing-too.md)\n```\n"
        "`[inline](missing-three.md)`\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading with that anchor in other.md",
        "#nothing: no heading with that anchor in page.md",
    ]
