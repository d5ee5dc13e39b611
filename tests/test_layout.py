"""The layout rules of docs/DEVELOPING.md, checked on the source: ``studio/`` never imports gradio,
and a tab imports no other tab — only ``tabs.common`` (shared views included) and its own sections
(``tabs/voice.py`` may import ``tabs/voice_*.py``; ``tabs/kiosk/`` its own modules)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if node.module == "tabs":  # "from tabs import voice_views" names a module
                names += [f"tabs.{alias.name}" for alias in node.names]
    return names


def test_studio_never_imports_gradio():
    offenders = [f"{p.relative_to(ROOT)}: {name}" for p in (ROOT / "studio").rglob("*.py")
                 for name in _imports(p) if name.split(".")[0] == "gradio"]
    assert offenders == []


def _tab_of(module: str) -> str:
    """tabs.voice_views -> voice (a section of the Voice tab); tabs.kiosk.ui -> kiosk; tabs.train_likeness -> train_likeness."""
    first = module.split(".")[1]
    return first


def _owner(section: str, tabs: set[str]) -> str:
    """A section file belongs to the longest tab name it starts with (settings_remote -> settings)."""
    candidates = [t for t in tabs if section == t or section.startswith(t + "_")]
    return max(candidates, key=len) if candidates else section


def test_tabs_import_only_tabs_common_and_their_own_sections():
    folder = ROOT / "tabs"
    tabs = {p.stem for p in folder.glob("*.py") if p.stem not in ("__init__",)} | {
        p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").is_file() and p.name != "common"}
    tabs = {t for t in tabs if not any(t.startswith(o + "_") for o in tabs if o != t)}  # sections are not tabs
    offenders = []
    for path in folder.rglob("*.py"):
        relative = path.relative_to(folder)
        if relative.parts[0] == "common":
            continue
        mine = _owner(relative.parts[0].removesuffix(".py"), tabs)
        for name in _imports(path):
            if not name.startswith("tabs.") or name.startswith("tabs.common"):
                continue
            if _owner(_tab_of(name), tabs) != mine:
                offenders.append(f"tabs/{relative}: {name}")
    assert offenders == []
