"""The checked-in locks (locks/*.txt) cover what pyproject asks for, within its ranges, and agree on torch."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from lock_diff import pins  # noqa: E402

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# which extras each lock resolves (the Makefile's `lock` target)
LOCKS = {"main": ["dev", "app", "bench", "sam2"], "verl": ["verl"], "lmms": ["lmms"]}


def _requirements(extras: list[str]) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_requirement_is_pinned_within_its_range(lock):
    pinned = {canonicalize_name(k): v for k, v in pins(ROOT / "locks" / f"{lock}.txt").items()}
    problems = []
    for req in _requirements(LOCKS[lock]):
        name = canonicalize_name(req.name)
        if name not in pinned:
            problems.append(f"{req}: not in locks/{lock}.txt (run `make lock`)")
        elif req.specifier and not req.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{req}: locks/{lock}.txt pins {pinned[name]}, outside the range (run `make lock`)")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_locks_are_exact_and_name_no_machine_paths(lock):
    text = (ROOT / "locks" / f"{lock}.txt").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[^\s]+", line), f"locks/{lock}.txt: not an exact pin: {line}"


def test_every_lock_resolves_the_same_torch():
    wanted = pins(ROOT / "locks" / "torch.in")
    assert set(wanted) == {"torch", "torchvision"}
    for lock in LOCKS:
        got = pins(ROOT / "locks" / f"{lock}.txt")
        assert got["torch"] == wanted["torch"], lock
        if "torchvision" in got:
            assert got["torchvision"] == wanted["torchvision"], lock


def test_every_make_install_uses_its_lock():
    make = (ROOT / "Makefile").read_text()
    installs = [ln for ln in make.splitlines() if "pip install" in ln and "-e " in ln and not ln.lstrip().startswith("#")]
    assert installs
    for line in installs:
        if "LATEST_VENV" in line or "VERL_" in line:
            continue
        assert re.search(r"-c \$\((LOCK|LMMS_LOCK)\)", line), f"Makefile installs without its lock: {line.strip()}"
    assert "-c $(VERL_LOCK)" in make


def test_lock_diff_names_what_moved(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("torch==2.14.1\n    # via x\nTransformers==5.24.0\nnumpy==2.4.6\n")
    env = tmp_path / "env.txt"
    env.write_text("torch==2.14.1\ntransformers==5.25.0\nnumpy==2.4.6\nnew_pkg==1.0\n")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock_diff.py"), str(lock), str(env)],
                         capture_output=True, text=True, check=True).stdout
    assert "transformers: 5.24.0 (lock) -> 5.25.0" in out
    assert "new-pkg: 1.0 (not in the lock)" in out
    assert "torch" not in out and "numpy" not in out
