"""Every file the README and the user docs link to exists (the README once cited spec/*.md, which the
repository does not hold)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    text = doc.read_text(encoding="utf-8")
    links = [t for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) if "://" not in t]
    missing = [t for t in links if not (doc.parent / t).exists()]
    assert not missing, missing


def test_readme_cites_the_docs_not_the_design_specs():
    assert "spec/" not in (ROOT / "README.md").read_text(encoding="utf-8")
