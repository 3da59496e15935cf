"""Layout figures of issue 14: task-key string literals outside onethinker/tasks/ and the synthetic
generators (docstrings not counted), and the modules over 700 lines.

    python scripts/measure_layout.py [-v]

A literal counts when it equals a task key or a problem_type (case-sensitive). Metric-family and
function names that happen to equal a task key ("regression", "ocr") are listed apart."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "onethinker"
sys.path.insert(0, str(ROOT.parent))
from onethinker.tasks import TASKS  # noqa: E402

KEYS = {t.key for t in TASKS.values()} | {t.problem_type for t in TASKS.values()}
#: names that are also metric families or metric functions
SHARED_NAMES = {"regression", "ocr"}
EXCLUDED = ("tasks/", "synthetic/")


def literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
            and (n.value in KEYS or n.value.lower() in SHARED_NAMES)]


def main() -> None:
    verbose = "-v" in sys.argv
    keys, shared = {}, {}
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT).as_posix()
        if rel.startswith(EXCLUDED):
            continue
        for line, value in literals(p):
            bucket = shared if value.lower() in SHARED_NAMES and value not in ("OCR",) and (
                value != "regression" or "evaluate/families" in rel or "evaluate/metrics" in rel) else keys
            bucket.setdefault(rel, []).append((line, value))
    print(f"task-key literals outside tasks/ and the synthetic generators: {sum(map(len, keys.values()))}")
    for rel, hits in sorted(keys.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(hits):3d} {rel}" + (f"  {hits}" if verbose else ""))
    print(f"metric-family / metric-function names equal to a task key: {sum(map(len, shared.values()))}")
    for rel, hits in sorted(shared.items()):
        print(f"  {len(hits):3d} {rel}" + (f"  {hits}" if verbose else ""))
    sizes = sorted(((len(p.read_text(encoding="utf-8").splitlines()), p.relative_to(ROOT).as_posix())
                    for p in ROOT.rglob("*.py")), reverse=True)
    print("largest modules:", ", ".join(f"{r} ({n})" for n, r in sizes[:3]))
    print("modules over 700 lines:", ", ".join(f"{r} ({n})" for n, r in sizes if n > 700) or "none")


if __name__ == "__main__":
    main()
