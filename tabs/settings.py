"""Settings tab: which engine does each part of the studio, in plain words; the configuration
names (environment variables, TOML) only in the details for the person who set the studio up."""
from __future__ import annotations

import gradio as gr

from studio.backends.registry import BackendStatus
from tabs import settings_remote
from tabs.common import TabContext, engine_name, say, user_errors, visitor_language

TITLE = "tab.settings"


def backend_rows(statuses: list[BackendStatus]) -> list[list[str]]:
    return [[say(f"kind.{s.kind}"), engine_name(s.kind, s.name), "✓" if s.active else "",
             say("set.ready") if s.availability.ok else say("set.not_ready")]
            for s in statuses]


def reasons_markdown(statuses: list[BackendStatus]) -> str:
    """Each engine's reason, in the visitor's language, with the setting names for whoever
    configures the studio."""
    return "\n".join(f"- `{s.kind}/{s.name}`: {say('set.ready') if s.availability.ok else say('set.not_ready')} — "
                     f"{s.availability.said_in(visitor_language())}" for s in statuses)


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, settings, t = ctx.services, ctx.services.settings, ctx.t
    gr.Markdown(f"### {t('set.backends')}")
    table = gr.Dataframe(headers=["", "", "", ""], value=None, interactive=False, wrap=True,
                         column_widths=["25%", "40%", "12%", "23%"])
    downloads = gr.Markdown()  # models fetched at start (studio.model_warmup)
    refresh = gr.Button(t("set.refresh"))
    with gr.Accordion(t("set.details"), open=False):
        details = gr.Markdown()

    @user_errors
    def show():
        statuses = services.backends.statuses()  # each engine asked once for both the table and the reasons
        headers = [say("set.col_part"), say("set.col_engine"), say("set.col_active"), say("set.col_state")]
        where = say("set.where", folder=settings.data_dir) + "\n\n" if settings.mode == "local" else ""
        text = (where + say("set.mode", mode=settings.mode, mb=settings.max_file_size_mb) + "\n\n"
                + say("set.config") + f"\n\n#### {say('set.reasons')}\n" + reasons_markdown(statuses))
        return gr.update(value=backend_rows(statuses), headers=headers), text

    gr.on([tab.select, refresh.click], show, None, [table, details], api_name="backend_status")

    @user_errors
    def show_downloads():
        warmup = getattr(services, "warmup", None)
        return "\n".join(f"- {line}" for line in warmup.messages(visitor_language())) if warmup else ""

    gr.on([tab.select, refresh.click], show_downloads, None, downloads, api_name="model_downloads")
    settings_remote.build(ctx, tab)  # remote servers: configured, reachable, whose quota
