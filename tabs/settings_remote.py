"""Settings section: the remote picture/voice/story servers, whether they answer, and whose
Hugging Face allowance pays. A section of the Settings tab (built from ``tabs/settings.py``).

The visitor's OAuth token reaches the studio only as a handler argument (``gr.OAuthToken``);
it is used for the check and dropped, never returned to the browser."""
from __future__ import annotations

import gradio as gr

from studio.backends.remote import status
from studio.backends.remote.common import visitor_credentials
from studio.messages import language_of
from tabs.common import TabContext, user_errors


def _lang(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    return language_of(headers.get("accept-language", ""))


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services = ctx.services
    headers = [ctx.t("remote.col_engine"), ctx.t("remote.col_address"), ctx.t("remote.col_status")]
    with gr.Accordion(ctx.t("remote.section"), open=True):
        quota = gr.Markdown()
        table = gr.Dataframe(headers=headers, value=None, interactive=False, wrap=True,
                             column_widths=["28%", "32%", "40%"])
        test = gr.Button(ctx.t("remote.test"), size="sm")

    @user_errors
    def show(request: gr.Request, oauth_token: gr.OAuthToken | None = None,
             profile: gr.OAuthProfile | None = None):
        lang = _lang(request)
        credentials = visitor_credentials(oauth_token, profile)
        return status.quota_note(services.settings, credentials, lang), status.overview(services, lang)

    @user_errors
    def check(request: gr.Request, oauth_token: gr.OAuthToken | None = None,
              profile: gr.OAuthProfile | None = None):
        lang = _lang(request)
        credentials = visitor_credentials(oauth_token, profile)
        rows = status.test_connections(services, credentials, lang)
        return status.quota_note(services.settings, credentials, lang), rows

    tab.select(show, None, [quota, table], api_name="remote_status")
    test.click(check, None, [quota, table], api_name="remote_test")
