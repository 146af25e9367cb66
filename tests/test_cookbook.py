"""Every recipe in docs/language.md's cookbook is a whole network of at most 10 lines that checks clean."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import mgdsl

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
COOKBOOK = TEXT[TEXT.index("\n## Cookbook\n"):]
RECIPES = re.findall(r"\n```\n(.*?)```\n", COOKBOOK, re.S)


def test_the_cookbook_has_its_recipes():
    assert len(RECIPES) >= 7


@pytest.mark.parametrize("text", RECIPES, ids=[re.search(r'network "([^"]+)"', r).group(1) for r in RECIPES])
def test_recipe_is_short_and_clean(text):
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) <= 10
    net = mgdsl.loads(text)
    assert net.warnings == []
    assert net.num_params > 0 and net.macs > 0
