"""The work of `make upgrade-check` (scripts/upgrade-check.sh, which picks the tests): lock the
newest releases past pyproject.toml's upper bounds in a scratch copy, run the tests there, and
print per bounded library its bound, the locked and the newest version, and what broke.

Standard library only. Nothing in the checkout changes: the copy lives in a temporary folder
with its own lock and environment (uv's package cache is shared, so only new releases are
downloaded).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
# A dependency of pyproject.toml with an upper bound: name, extras, the rest of its specifier.
BOUNDED = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?P<extras>\[[^\]]*\])?(?P<spec>.*<[^=].*)$")
# A contract test's message: "<library> <installed version>: <the missing piece>".
CONTRACT_MESSAGE = re.compile(r"(?P<library>[a-z0-9_.-]+) (?P<version>\d[\w.+-]*): (?P<piece>.+)")


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def bounded_dependencies(pyproject: str) -> dict[str, tuple[str, str]]:
    """Per bounded dependency (normalised name): its requirement string and its bound."""
    found = {}
    for requirement in tomllib.loads(pyproject)["project"]["dependencies"]:
        match = BOUNDED.match(requirement.replace(" ", ""))
        if match:
            bound = next(part for part in match["spec"].split(",") if part.startswith("<"))
            found[normalised(match["name"])] = (requirement, bound)
    return found


def without_bounds(pyproject: str, bounded: dict[str, tuple[str, str]]) -> str:
    """pyproject.toml with each bounded dependency's upper bound dropped."""
    for requirement, bound in bounded.values():
        unbounded = ",".join(
            part for part in requirement.split(",") if part.strip() != bound.strip()
        )
        pyproject = pyproject.replace(f'"{requirement}"', f'"{unbounded}"')
    return pyproject


def locked_versions(lock: Path) -> dict[str, str]:
    packages = tomllib.loads(lock.read_text())["package"]
    return {normalised(p["name"]): p["version"] for p in packages if "version" in p}


def copy_checkout(scratch: Path) -> None:
    """The checkout's files as they are now (committed or not), without ignored ones."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = scratch / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run(command: list[str], cwd: Path, log: Path) -> bool:
    """`command` in `cwd`, its output appended to `log`; whether it succeeded."""
    print("$", " ".join(command), flush=True)
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}  # the checkout's
        done = subprocess.run(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    return done.returncode == 0


def failures(report: Path) -> list[tuple[str, str]]:
    """Each failed or errored test of a JUnit report: its id and first line of message."""
    if not report.exists():
        return []
    found = []
    for case in ElementTree.parse(report).iter("testcase"):
        for problem in (*case.iter("failure"), *case.iter("error")):
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            test = f"{case.get('classname')}::{case.get('name')}"
            found.append((test, message[0] if message else ""))
    return found


def broke_per_library(failed: list[tuple[str, str]], libraries: set[str]) -> dict[str, list[str]]:
    """The contract tests' messages, per library they name."""
    broke: dict[str, list[str]] = {library: [] for library in libraries}
    for _, message in failed:
        match = CONTRACT_MESSAGE.search(message)
        if match and normalised(match["library"]) in broke:
            broke[normalised(match["library"])].append(match["piece"])
    return broke


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def check(uv: str, tests: list[str], scratch: Path) -> int:
    log = scratch / "upgrade-check.log"
    copy_checkout(scratch)
    pyproject = (ROOT / "pyproject.toml").read_text()
    bounded = bounded_dependencies(pyproject)
    (scratch / "pyproject.toml").write_text(without_bounds(pyproject, bounded))
    locked = locked_versions(ROOT / "uv.lock")
    env_ok = run([uv, "lock", "--upgrade"], scratch, log) and run(
        [uv, "sync", "--frozen"], scratch, log
    )
    newest = locked_versions(scratch / "uv.lock") if env_ok else {}
    report = scratch / "report.xml"
    tests_ok = env_ok and run(
        [uv, "run", "--frozen", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider",
         "--continue-on-collection-errors", f"--junitxml={report}", *tests],
        scratch,
        log,
    )  # fmt: skip
    failed = failures(report)
    broke = broke_per_library(failed, set(bounded))
    rows: list[tuple[str, ...]] = [("library", "bound", "locked", "newest", "what broke")]
    for name, (_, bound) in sorted(bounded.items()):
        latest = newest.get(name, "?")
        if not env_ok:
            verdict = "not checked: the lock or sync failed (see the log)"
        elif broke[name]:
            verdict = f"{len(broke[name])} contract check(s): " + "; ".join(broke[name])
        elif latest == locked.get(name):
            verdict = "nothing (no newer release)"
        elif failed:
            verdict = "no contract check (other tests failed: below)"
        else:
            verdict = "nothing"
        rows.append((name, bound, locked.get(name, "?"), latest, verdict))
    print()
    print(table(rows))
    upgraded = sorted(n for n in newest if n not in bounded and newest[n] != locked.get(n))
    print(f"\nother packages on a newer release in the scratch lock: {len(upgraded)}")
    if upgraded:
        print("  " + ", ".join(f"{n} {locked.get(n, '-')}->{newest[n]}" for n in upgraded))
    print(f"tests failed on the newest releases: {len(failed)}")
    for test, message in failed:
        print(f"  {test}: {message[:160]}")
    lines = log.read_text().strip().splitlines() if log.exists() else []
    if not env_ok:
        print("the lock or sync failed; the end of its output:", *lines[-20:], sep="\n  ")
    print("pytest: " + (lines[-1] if env_ok and lines else "did not run"))
    return 0 if env_ok and tests_ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uv", default="uv")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and its log")
    parser.add_argument("tests", nargs="+", help="pytest's arguments (after --)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="trado-upgrade-check-"))
    try:
        return check(args.uv, args.tests, scratch)
    finally:
        if args.keep:
            print(f"scratch copy kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
