#!/usr/bin/env python3
# /// script
# requires-python = ">=3.10,<3.13"
# dependencies = []
# ///
"""Start a benchmark in your project: copy a template and benchkit.py there, and record where this skill is.

The copy runs as it is (offline demo, no arguments) and every "Next:" command it prints is a shell-quoted
command that runs from the project folder, because the copied benchkit.py records where the skill lives:
relative when the skill sits inside the project (a project-local .claude/skills/...), absolute otherwise.
$XETRACK_BENCHMARK_SKILL, when set at run time, wins over the record (e.g. after moving the skill).
The llm and throughput templates also get their demo stand-in server (delete it once you point the template
at your own endpoint). Nothing is overwritten: if any file to copy exists already, nothing is written.
This writes no database; the template does, when you run it.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from _bench.cli import EXIT_OK, EXIT_USAGE, ArgumentParser

PROG = "new_benchmark.py"
SKILL = Path(os.path.abspath(__file__)).parent.parent  # abspath, not resolve: keep the path the user installed
ASSETS = SKILL / "assets"
SKILL_ENV = "XETRACK_BENCHMARK_SKILL"
# template -> (its file, the demo-only files its no-argument run needs beside it)
TEMPLATES = {
    "sklearn": ("sklearn_benchmark_template.py", ()),
    "function": ("function_benchmark_template.py", ()),
    "llm": ("llm_finetuning_template.py", ("llm_standin_server.py", "llm_demo_data.jsonl")),
    "throughput": ("throughput_benchmark_template.py", ("model_server.py",)),
}
RECORD_LINE = "SKILL_DIR: str | None = None"  # the line of benchkit.py that the copy records the skill in
FIRST_RUN = {  # what to run first, from the project folder
    "sklearn": ["--limit", "150", "--seeds", "0", "--experiment-version", "dev"],
    # a cache of its own: the function template caches each call with its time, and the real run must time its
    # calls anew, not replay the dev run's (trial L)
    "function": ["--limit", "20", "--experiment-version", "dev", "--db", "dev.db", "--cache-dir", "dev_cache"],
    "llm": ["--limit", "8", "--experiment-version", "dev"],
    "throughput": ["--limit", "2", "--experiment-version", "dev"],
}
EXAMPLES = f"""examples:
  python {PROG} sklearn                      # into the current folder
  python {PROG} function bench               # your own Python functions on a labelled dataset
  python {PROG} throughput ~/my-service/bench
  python {PROG} llm . --name run_benchmark.py
  {SKILL_ENV}=/opt/skills/xetrack-benchmark python {PROG} sklearn   # record this skill path instead

exit codes: 0 copied; 2 usage error (unknown template, a file that would be overwritten, DEST not a folder):
nothing is written then."""


class UsageError(Exception):
    """Bad input: reported as one line, exit 2."""


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split("\n", 1)[0],
                            epilog="\n\n".join(__doc__.split("\n\n")[1:]).strip() + "\n\n" + EXAMPLES)
    parser.add_argument("template", choices=sorted(TEMPLATES), help="which benchmark to start from")
    parser.add_argument("dest", nargs="?", default=".", metavar="DEST",
                        help="the project folder to copy into (default: the current folder; created if absent)")
    parser.add_argument("--name", metavar="FILE.py", help="file name of the copied template (default: the "
                        "template's own, e.g. sklearn_benchmark_template.py)")
    return parser


def recorded_skill(dest: Path) -> str:
    """Where the copy should look for the skill: relative to the project when the skill is inside it."""
    skill = Path(os.path.abspath(os.environ.get(SKILL_ENV) or SKILL))
    if not (skill / "scripts" / "validate_benchmark.py").is_file():
        raise UsageError(f"${SKILL_ENV}={skill} is not the skill's folder (no scripts/validate_benchmark.py in it)")
    inside = str(skill).startswith(str(dest).rstrip(os.sep) + os.sep) or skill == dest
    return os.path.relpath(skill, dest) if inside else str(skill)


def plan(template: str, dest: Path, name: str | None) -> dict[Path, str]:
    """Target file -> its content, for every file to write; raises UsageError before anything is written."""
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"DEST {dest} exists and is not a folder")
    template_file, demo_files = TEMPLATES[template]
    name = name or template_file
    if Path(name).name != name or not name.endswith(".py") or name in ("benchkit.py", *demo_files):
        raise UsageError(f"--name must be a file name ending in .py, other than benchkit.py; got {name!r}")
    benchkit = (ASSETS / "benchkit.py").read_text(encoding="utf-8")
    if benchkit.count(RECORD_LINE) != 1:
        raise UsageError(f"{ASSETS / 'benchkit.py'} has no line {RECORD_LINE!r} to record the skill in")
    record = f"SKILL_DIR: str | None = {recorded_skill(dest)!r}  # recorded by scripts/{PROG}"
    files = {dest / name: (ASSETS / template_file).read_text(encoding="utf-8"),
             dest / "benchkit.py": benchkit.replace(RECORD_LINE, record)}
    files.update({dest / f: (ASSETS / f).read_text(encoding="utf-8") for f in demo_files})
    existing = [str(p) for p in files if p.exists() or p.is_symlink()]
    if existing:
        raise UsageError(f"refusing to overwrite {', '.join(existing)}; nothing was written")
    return files


def write(files: dict[Path, str]) -> None:
    """Write every file or, if one fails, none: the ones already written are removed."""
    written: list[Path] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as fh:  # "x": never overwrite, even in a race
                fh.write(text)
            written.append(path)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise


# What the templates and run_shards.py leave beside the code: databases (and SQLite's journal files), caches,
# shard locks and attempt counters, gathered shard files in flight.
# trial X: the virtual environment the skill has you make in the project was not among them (200 MB in a commit)
IGNORED = ("*.db", "*.db-journal", "*.db-wal", "*.db-shm", "*_cache/", "*.lock", "*.attempts", "*.part", ".venv/")
# what a run writes that is a deliverable: small, committed with the experiment (trial Z2: ignored, they went
# missing from its commit)
TABLES = ("*_results.csv", "*_pairs.csv", "*_by_*.csv", "*_vs_best.csv", "*_wrong.csv")  # the templates' tables


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dest = Path(os.path.abspath(args.dest))
    try:
        files = plan(args.template, dest, args.name)
        write(files)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"{PROG}: error: cannot write into {dest}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    template = next(iter(files)).name
    demo = TEMPLATES[args.template][1]
    print(f"Copied into {dest}:")
    for path in files:
        why = ("the demo's data, which the stand-in also reads: replace it with yours" if path.suffix == ".jsonl"
               else "the demo's stand-in server: delete it once you use your own endpoint" if path.name in demo
               else "the helpers; it records where the skill is" if path.name == "benchkit.py"
               else "edit its EDIT block")
        print(f"  {path.name}  ({why})")
    print(f"Results stay out of git (every row records the commit: commit the code before a real run); "
          f"add to .gitignore: {' '.join(IGNORED)}")
    # trial N: this read as "never commit results", against SKILL.md's "commit the database after an experiment"
    print("After a real run, keep its database and its cache folder (git add -f, or a DVC / git-LFS pointer: "
          "SKILL.md, Versioning): the cache lets a later run add a configuration without computing again. "
          f"Its tables ({' '.join(TABLES)}) are small: commit them with it.")
    quote = " ".join
    print("Next: from the project folder, a small dev run, then the real one (--help lists every option):")
    print(f"  cd {shlex.quote(str(dest))}")
    print(f"  {quote(shlex.quote(w) for w in ['python', template, *FIRST_RUN[args.template]])}")
    print(f"  python {shlex.quote(template)}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
