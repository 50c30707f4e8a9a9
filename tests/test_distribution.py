"""Distribution: one version everywhere, valid plugin manifests, and a zip with exactly the skill's files."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

from helpers import ROOT, run_python
from test_bundle import frontmatter

PLUGIN = json.loads((ROOT / ".claude-plugin" / "plugin.json").read_text())
MARKETPLACE = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
SKILL = frontmatter(ROOT / "SKILL.md")
SEMVER = re.compile(r"\d+\.\d+\.\d+")


def test_the_version_is_semver_and_identical_everywhere():
    version = SKILL["metadata"]["version"]
    assert SEMVER.fullmatch(version)
    pyproject = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    changelog_top = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M).group(1)
    assert {version} == {PLUGIN["version"], MARKETPLACE["plugins"][0]["version"], pyproject, changelog_top}


def test_plugin_manifests_name_the_skill_and_point_at_this_folder():
    assert PLUGIN["name"] == SKILL["name"] == MARKETPLACE["plugins"][0]["name"]
    assert set(PLUGIN) <= {"name", "version", "description", "author", "homepage", "repository", "license",
                           "keywords", "skills", "commands", "agents", "hooks", "mcpServers"}
    assert {"name", "owner", "plugins"} <= set(MARKETPLACE)
    for path in [*PLUGIN["skills"], MARKETPLACE["plugins"][0]["source"]]:
        assert (ROOT / path / "SKILL.md").is_file(), path


def test_the_zip_holds_exactly_the_skill_files(tmp_path):
    proc = run_python(ROOT / "tools" / "package_skill.py", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    archive = Path(proc.stdout.strip())
    assert archive.name == f"{SKILL['name']}-{SKILL['metadata']['version']}.zip"
    names = zipfile.ZipFile(archive).namelist()
    tops = {n.split("/")[1] for n in names}
    assert tops == {"SKILL.md", "LICENSE", "references", "assets", "scripts"}
    assert all(n.startswith(f"{SKILL['name']}/") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".db", ".pyc"))]
    tracked = subprocess.run(["git", "ls-files", "scripts", "assets", "references"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert sorted(f"{SKILL['name']}/{t}" for t in tracked) == sorted(n for n in names if n.count("/") > 1)
