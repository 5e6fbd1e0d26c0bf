"""The documentation cannot drift from the code: the configuration reference is regenerated here
and compared, and the README's commands are the ones CI runs."""

from __future__ import annotations

import difflib
import importlib
import re
from pathlib import Path

import pytest

from scripts import config_docs

ROOT = Path(__file__).resolve().parent.parent


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
