#!/usr/bin/env python3
"""Build the skill's zip: exactly what an agent needs (SKILL.md, references/, assets/, scripts/, LICENSE).

Usage: python tools/package_skill.py [--out DIR]   ->   DIR/xetrack-benchmark-<version>.zip (default DIR: dist)

Files come from `git ls-files`, so caches, databases and anything untracked never leak in; the zip holds one
top folder named after the skill, ready to unzip into a skills directory.
Exit codes: 0 built · 2 usage error or not run from a git checkout.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDED_FILES = ("SKILL.md", "LICENSE")
INCLUDED_DIRS = ("references", "assets", "scripts")


def skill_name_and_version(root: Path = ROOT) -> tuple[str, str]:
    text = (root / "SKILL.md").read_text()
    name = re.search(r"^name:\s*(\S+)", text, re.M)
    version = re.search(r"^\s+version:\s*(\S+)", text, re.M)
    if not (name and version):
        raise ValueError("SKILL.md frontmatter lacks name or metadata.version")
    return name.group(1), version.group(1)


def packaged_files(root: Path = ROOT) -> list[str]:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True)
    files = [f for f in tracked.stdout.split("\0") if f]
    keep = [f for f in files if f in INCLUDED_FILES or f.split("/", 1)[0] in INCLUDED_DIRS]
    return sorted(f for f in keep if (root / f).is_file())


def build(out_dir: Path, root: Path = ROOT) -> Path:
    name, version = skill_name_and_version(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{version}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in packaged_files(root):
            zf.write(root / rel, f"{name}/{rel}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="package_skill.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist)")
    args = parser.parse_args(argv)
    try:
        target = build(args.out)
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError) as exc:
        print(f"package_skill.py: error: {exc}", file=sys.stderr)
        return 2
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
