"""Preview tab (being built; see its issue). Says plainly what it will do: no fake controls."""
from __future__ import annotations

import gradio as gr

from tabs.common import TabContext

TITLE = "tab.preview"
STRINGS = {"en": {"tab.preview": "Preview"}, "ko": {"tab.preview": "미리 보기"}}


def build(ctx: TabContext, tab: gr.Tab) -> None:
    gr.Markdown("This tab is not built yet.")
