"""Settings tab: which model backs each part of the studio, and why the others are not active."""
from __future__ import annotations

import gradio as gr

from tabs import settings_remote
from tabs.common import TabContext

TITLE = "tab.settings"
STRINGS = {
    "en": {"tab.settings": "Settings", "set.refresh": "Check again", "set.backends": "Models behind the studio"},
    "ko": {"tab.settings": "설정", "set.refresh": "다시 확인", "set.backends": "스튜디오의 모델"},
}
HEADERS = ["Part / 부분", "Backend / 모델", "In use / 사용 중", "Status / 상태"]
KIND_KO = {"writer": "이야기 작가", "illustrator": "그림", "pose_detector": "사진에서 자세",
           "depth_estimator": "사진에서 깊이", "speaker": "읽어 주는 음성", "converter": "목소리 변환"}


def backend_rows(services) -> list[list[str]]:
    from studio.backends.registry import KIND_LABELS

    return [
        [f"{KIND_LABELS.get(s.kind, s.kind)} · {KIND_KO.get(s.kind, '')}", s.label, "✓" if s.active else "",
         ("" if s.availability.ok else "✗ ") + s.availability.reason]
        for s in services.backends.statuses()
    ]


def build(ctx: TabContext, tab: gr.Tab) -> None:
    settings = ctx.services.settings
    gr.Markdown(f"### {ctx.t('set.backends')}")
    table = gr.Dataframe(headers=HEADERS, value=None, interactive=False, wrap=True,
                         column_widths=["18%", "27%", "9%", "46%"])
    refresh = gr.Button(ctx.t("set.refresh"))
    where = f"Data folder / 데이터 폴더: `{settings.data_dir}` · " if settings.mode == "local" else ""
    gr.Markdown(
        f"{where}mode: `{settings.mode}` · "
        f"upload limit: {settings.max_file_size_mb} MB\n\n"
        "Models and keys are set with environment variables (`GIEOK_SD_MODEL`, `GEMINI_API_KEY`, "
        "`GIEOK_OPENAI_BASE_URL`, `GIEOK_VITS_MODEL_KO`, `GIEOK_HUBERT_MODEL`, …) or a TOML file named "
        "by `GIEOK_CONFIG`; see the README."
    )
    gr.on([tab.select, refresh.click], lambda: backend_rows(ctx.services), None, table, api_name="backend_status")
    settings_remote.build(ctx, tab)  # remote servers: configured, reachable, whose quota
