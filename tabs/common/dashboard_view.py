"""The operator's view of the day: jobs per hour, seconds per page, failures, queue, visitors,
disk; a CSV of every job; a purge of what is older than the retention window.

Used by the kiosk's operator screen (behind the PIN) and by the studio's Dashboard tab."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from studio import job_log
from studio.job_log import JobLog
from studio.messages import text

DAY_S = 24 * 3600.0


def log_of(services: Any) -> JobLog:
    """The job log every ``Jobs`` writes to (made here when nothing made it yet)."""
    if services.limits.job_log is None:
        services.limits.job_log = JobLog(services.settings.data_dir)
    return services.limits.job_log


def figures(services: Any, lang: str, now: float | None = None) -> dict[str, Any]:
    """Everything the dashboard shows for the last 24 hours."""
    log = log_of(services)
    entries = log.read(since=(log.clock() if now is None else now) - DAY_S)
    counts = job_log.summary(entries)
    hourly = job_log.per_hour(entries)
    kiosk = getattr(services, "kiosk", None)
    disk_mb = job_log.folder_bytes(Path(services.settings.data_dir)) / 1024**2
    words = text("kiosk.dash_summary", lang, jobs=counts["jobs"], done=counts["done"], failed=counts["failed"],
                 cancelled=counts["cancelled"], visitors=counts["visitors"],
                 here=kiosk.active_visitors() if kiosk else 0, per_page=counts["seconds_per_page"],
                 disk=f"{disk_mb:.1f}")
    return {"summary": words, "counts": counts, "hourly": hourly, "entries": entries}


def build(say: Callable[..., Any], words: Callable[..., dict]) -> dict[str, Any]:
    """The components; ``say``/``words`` register their texts with the caller's language handling."""
    parts: dict[str, Any] = {}
    parts["summary"] = gr.Markdown(elem_id="gieok-dashboard-summary")
    # bars per hour, not lines: an hour with jobs is visible even when it is the only one of the day;
    # plain numbers on the value axis (0, 0.5, 20 rather than 0.000000 or 2e+1)
    plain = dict(x="hour", y_axis_format="~f")
    with gr.Row():
        parts["jobs_plot"] = say(gr.BarPlot(y="jobs", **plain, **words(label="kiosk.dash_jobs")), label="kiosk.dash_jobs")
        parts["page_plot"] = say(gr.BarPlot(y="seconds_per_page", **plain, **words(label="kiosk.dash_seconds")),
                                 label="kiosk.dash_seconds")
    with gr.Row():
        parts["fail_plot"] = say(gr.BarPlot(y="failure_rate", **plain, **words(label="kiosk.dash_failures")),
                                 label="kiosk.dash_failures")
        parts["queue_plot"] = say(gr.BarPlot(y="queue", **plain, **words(label="kiosk.dash_queue")),
                                  label="kiosk.dash_queue")
    with gr.Row():
        parts["refresh"] = say(gr.Button(**words(value="kiosk.dash_refresh")), value="kiosk.dash_refresh")
        parts["csv"] = say(gr.Button(**words(value="kiosk.dash_csv")), value="kiosk.dash_csv")
        parts["purge"] = say(gr.Button(**words(value="kiosk.dash_purge"), variant="stop"), value="kiosk.dash_purge")
    parts["file"] = gr.File(visible=False, interactive=False)
    parts["purged"] = gr.Markdown()
    return parts


def plot_outputs(parts: dict[str, Any]) -> list:
    return [parts[n] for n in ("summary", "jobs_plot", "page_plot", "fail_plot", "queue_plot")]


AXES = {"jobs_plot": "kiosk.dash_axis_jobs", "page_plot": "kiosk.dash_axis_seconds",
        "fail_plot": "kiosk.dash_axis_failures", "queue_plot": "kiosk.dash_axis_queue"}


def for_plots(hourly):
    """The hourly figures as an operator reads them: hours as "05-14 13:00" labels in time order,
    the failure rate in percent, seconds to one decimal (a plot would print 11.603750)."""
    shown = hourly.copy()
    shown["hour"] = [h.strftime("%m-%d %H:00") for h in shown["hour"]]
    shown["failure_rate"] = (shown["failure_rate"].astype(float) * 100).round(0)
    shown["seconds_per_page"] = shown["seconds_per_page"].astype(float).round(1)
    return shown


def refreshed(services: Any, lang: str) -> list:
    """The summary and the four plots, their axes named in the visitor's language (a plot would
    otherwise show its data's column names: "hour", "failure_rate")."""
    shown = figures(services, lang)
    hourly = for_plots(shown["hourly"])
    hour, order = text("kiosk.dash_axis_hour", lang), list(hourly["hour"])
    limits = {"fail_plot": [0, 100]}
    return [shown["summary"], *(gr.update(value=hourly, x_title=hour, y_title=text(key, lang), sort=order,
                                          y_lim=limits.get(name, [0, None])) for name, key in AXES.items())]


def csv_file(services: Any) -> str:
    """All jobs of the last day as CSV, in a temp folder Gradio may serve (not the data dir)."""
    from studio import lifecycle

    folder = lifecycle.new_export_dir()  # swept after two hours
    target = Path(folder) / f"gieok-jobs-{time.strftime('%Y%m%d-%H%M')}.csv"
    log = log_of(services)
    job_log.write_csv(log.read(since=log.clock() - DAY_S), target)
    return str(target)


def purge(services: Any, lang: str, retention_days: float) -> str:
    """Job records past the window; with a kiosk also its visitors idle past the window."""
    window = float(retention_days) * DAY_S
    removed = log_of(services).purge(window)
    owners = services.store.expire_owners(prefix="anon:", older_than_s=window)
    return text("kiosk.dash_purged", lang, files=removed, visitors=len(owners))


