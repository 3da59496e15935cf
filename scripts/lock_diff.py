"""Print how an environment's versions differ from a lock: `python scripts/lock_diff.py LOCK FREEZE`.

LOCK is a pip-compile output (locks/*.txt), FREEZE a `pip freeze` listing. `make test-latest` prints it before
running the suite on the newest releases, so a failure there comes with the upgrades that may have caused it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def pins(path: str) -> dict[str, str]:
    """``{normalised name: version}`` of the ``name==version`` lines of a requirements file."""
    out = {}
    for line in Path(path).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if m:
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    lock, env = pins(argv[0]), pins(argv[1])
    changed = [(n, lock[n], env[n]) for n in sorted(lock.keys() & env.keys()) if lock[n] != env[n]]
    added = sorted(env.keys() - lock.keys())
    for name, old, new in changed:
        print(f"  {name}: {old} (lock) -> {new}")
    for name in added:
        print(f"  {name}: {env[name]} (not in the lock)")
    if not changed and not added:
        print("  the same versions as the lock")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
