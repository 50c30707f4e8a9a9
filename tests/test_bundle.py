"""The skill bundle is well-formed: frontmatter per the Agent Skills spec, size, links and named files, scripts.

The checks are plain functions over a folder, so each one is also shown to fire on a broken copy.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, run_python

SPEC_KEYS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
NAMED_PATH = re.compile(r"(?<![\w./-])((?:scripts|assets|references)/[\w./-]*[\w-]\.(?:py|md|json|sh|txt))")
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MAX_SKILL_LINES = 500


def frontmatter(skill_md: Path) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", skill_md.read_text(), re.S)
    if not match:
        raise ValueError("SKILL.md has no frontmatter block")
    data = yaml.safe_load(match.group(1))
    if not isinstance(data, dict):
        raise ValueError("SKILL.md frontmatter is not a mapping")
    return data


def frontmatter_problems(skill_md: Path) -> list[str]:
    try:
        fm = frontmatter(skill_md)
    except (ValueError, yaml.YAMLError) as exc:
        return [str(exc)]
    problems = [f"non-spec key {k!r}" for k in sorted(set(fm) - SPEC_KEYS)]
    name, desc = str(fm.get("name", "")), str(fm.get("description", ""))
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) or len(name) > 64:
        problems.append(f"name {name!r} is not kebab-case of at most 64 characters")
    if not desc or len(desc) > 1024 or "<" in desc or ">" in desc:
        problems.append("description is empty, longer than 1024 characters, or contains < or >")
    if "Use when" not in desc:
        problems.append("description does not say 'Use when ...'")
    return problems


def _exists_exact_case(root: Path, rel: str) -> bool:
    """Path.exists() ignores case on some filesystems; compare every component's real name instead."""
    here = root
    for part in Path(rel).parts:
        if part in (".", ""):
            continue
        if part == "..":
            here = here.parent
            continue
        if not here.is_dir() or part not in {p.name for p in here.iterdir()}:
            return False
        here = here / part
    return True


def markdown_files(root: Path) -> list[Path]:
    skip = {".git", ".venv", "node_modules", "__pycache__", "dist", "build"}
    return sorted(p for p in root.rglob("*.md") if not skip & set(p.relative_to(root).parts))


def dangling_references(root: Path) -> list[str]:
    """Relative links and scripts/…, assets/…, references/… paths in Markdown that do not exist (exact case)."""
    bad = []
    for md in markdown_files(root):
        text = md.read_text()
        for target in MD_LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # URLs, mailto:, in-page anchors
            rel = target.split("#")[0]
            if rel and not _exists_exact_case(md.parent, rel):
                bad.append(f"{md.relative_to(root)} links {target}")
        for named in set(NAMED_PATH.findall(text)):
            if not _exists_exact_case(root, named):
                bad.append(f"{md.relative_to(root)} names {named}")
    return sorted(bad)


def readme_install_folder(root: Path) -> str | None:
    """The skill folder name used by the README's install step (…/skills/<name>)."""
    match = re.search(r"skills/([a-z0-9-]+)\b", (root / "README.md").read_text())
    return match.group(1) if match else None


def cli_scripts(root: Path) -> list[Path]:
    return sorted(p for p in (root / "scripts").glob("*.py") if not p.name.startswith("_"))


# --- the real bundle ---------------------------------------------------------------------------------

def test_skill_frontmatter_follows_the_agent_skills_spec():
    assert frontmatter_problems(ROOT / "SKILL.md") == []


def test_skill_name_equals_the_folder_name_the_readme_installs_into():
    assert readme_install_folder(ROOT) == frontmatter(ROOT / "SKILL.md")["name"]


def test_skill_md_is_at_most_500_lines():
    assert len((ROOT / "SKILL.md").read_text().splitlines()) <= MAX_SKILL_LINES


def test_every_link_and_named_file_in_markdown_exists_with_exact_case():
    assert markdown_files(ROOT), "no Markdown files found: the check inspected nothing"
    assert dangling_references(ROOT) == []


@pytest.mark.parametrize("script", cli_scripts(ROOT), ids=lambda p: p.name)
def test_every_script_answers_help_with_exit_0(script):
    proc = run_python(script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout.lower()


def test_long_references_open_with_a_table_of_contents():
    long_files = [p for p in sorted((ROOT / "references").glob("*.md")) if len(p.read_text().splitlines()) > 300]
    missing = [p.name for p in long_files if "contents" not in "\n".join(p.read_text().splitlines()[:15]).lower()]
    assert missing == []


def test_there_are_scripts_to_check():
    assert cli_scripts(ROOT), "scripts/ has no CLI: the --help check inspected nothing"


# --- the checks fire on broken copies ----------------------------------------------------------------

@pytest.fixture
def bundle_copy(tmp_path) -> Path:
    copy = tmp_path / "bundle"
    copy.mkdir()
    for name in ("SKILL.md", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    for folder in ("scripts", "assets", "references"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_an_unknown_frontmatter_key_is_reported(bundle_copy):
    skill = bundle_copy / "SKILL.md"
    skill.write_text(skill.read_text().replace("license:", "version: 1\nlicense:", 1))
    assert any("non-spec key 'version'" in p for p in frontmatter_problems(skill))


def test_a_description_with_angle_brackets_is_reported(bundle_copy):
    skill = bundle_copy / "SKILL.md"
    skill.write_text(skill.read_text().replace("description: ", "description: <b> ", 1))
    assert frontmatter_problems(skill)


@pytest.fixture
def tiny_bundle(tmp_path) -> Path:
    """A bundle whose only Markdown file names one script that exists: no findings until a test breaks it."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup_duckdb.py").write_text("")
    (tmp_path / "README.md").write_text("run `scripts/setup_duckdb.py`, see [it](scripts/setup_duckdb.py)\n")
    assert dangling_references(tmp_path) == []
    return tmp_path


def test_a_broken_link_is_reported(tiny_bundle):
    (tiny_bundle / "README.md").write_text("see [the guide](references/no-such-file.md)\n")
    assert dangling_references(tiny_bundle) == ["README.md links references/no-such-file.md",
                                                "README.md names references/no-such-file.md"]


def test_a_renamed_script_is_reported(tiny_bundle):
    (tiny_bundle / "scripts" / "setup_duckdb.py").rename(tiny_bundle / "scripts" / "Setup_DuckDB.py")
    assert dangling_references(tiny_bundle) == ["README.md links scripts/setup_duckdb.py",
                                                "README.md names scripts/setup_duckdb.py"]


def test_a_path_that_differs_only_in_case_is_reported(tiny_bundle):
    (tiny_bundle / "README.md").write_text("run scripts/SETUP_duckdb.py\n")
    assert dangling_references(tiny_bundle) == ["README.md names scripts/SETUP_duckdb.py"]
