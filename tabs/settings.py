"""Settings tab: which model backs each part of the studio, and why the others are not active."""
from __future__ import annotations

import gradio as gr

from tabs.common import TabContext

TITLE = "tab.settings"
STRINGS = {
    "en": {"tab.settings": "Settings", "set.refresh": "Check again", "set.backends": "Models behind the studio"},
    "ko": {"tab.settings": "설정", "set.refresh": "다시 확인", "set.backends": "스튜디오의 모델"},
}
HEADERS = ["Part / 부분", "Backend / 모델", "Active / 사용 중", "Status / 상태"]


def backend_rows(services) -> list[list[str]]:
    from studio.backends.registry import KIND_LABELS

    return [
        [KIND_LABELS.get(s.kind, s.kind), s.label, "✅" if s.active else "", s.availability.reason]
        for s in services.backends.statuses()
    ]


def build(ctx: TabContext, tab: gr.Tab) -> None:
    settings = ctx.services.settings
    gr.Markdown(f"### {ctx.t('set.backends')}")
    table = gr.Dataframe(headers=HEADERS, value=None, interactive=False, wrap=True)
    refresh = gr.Button(ctx.t("set.refresh"))
    gr.Markdown(
        f"Data folder / 데이터 폴더: `{settings.data_dir}` · mode: `{settings.mode}` · "
        f"upload limit: {settings.max_file_size_mb} MB\n\n"
        "Models and keys are set with environment variables (`GIEOK_SD_MODEL`, `GEMINI_API_KEY`, "
        "`GIEOK_OPENAI_BASE_URL`, `GIEOK_VITS_MODEL_KO`, `GIEOK_HUBERT_MODEL`, …) or a TOML file named "
        "by `GIEOK_CONFIG`; see the README."
    )
    gr.on([tab.select, refresh.click], lambda: backend_rows(ctx.services), None, table, api_name="backend_status")
