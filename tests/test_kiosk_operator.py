"""The operator's side of the kiosk: the PIN (hashed, rate-limited) guards settings, the dashboard
and leaving kiosk mode; the dashboard's figures are the jobs that ran; the job log rotates."""
from __future__ import annotations

import csv
import json
import re

import pytest

from studio.config import Settings
from tests.ui_helpers import refused
from studio.job_log import JobLog, per_hour, summary
from studio.kiosk_operator import KioskError, OperatorStore, start_mode
from tests.test_kiosk_flow import PIN, _visit, kiosk_app  # noqa: F401  (fixture)


def test_pin_is_stored_hashed_and_wrong_pins_wait_longer_each_time(tmp_path):
    now = [1000.0]
    store = OperatorStore(tmp_path, initial_pin="13579", clock=lambda: now[0])
    saved = json.loads(store.pin_path.read_text())
    assert "13579" not in store.pin_path.read_text() and len(saved["salt"]) == 32 and saved["n"] >= 2**14
    assert oct(store.pin_path.stat().st_mode & 0o777) == "0o600"
    waits = []
    for _ in range(4):
        with pytest.raises(KioskError, match="not right") as wrong:
            store.check_pin("0000", "10.0.0.5")
        waits.append(wrong.value.values["seconds"])
        with pytest.raises(KioskError, match="wait"):
            store.check_pin("13579", "10.0.0.5")  # even the right PIN waits its turn
        now[0] += waits[-1] + 0.1
    assert waits == [1, 2, 4, 8]
    with pytest.raises(KioskError):
        store.check_pin("1111", "10.0.0.6")  # another client has its own count
    store.check_pin("13579", "10.0.0.5")  # after the wait, the right PIN opens (and resets the count)
    with pytest.raises(KioskError, match="not right") as again:
        store.check_pin("0000", "10.0.0.5")
    assert again.value.values["seconds"] == 1
    with pytest.raises(KioskError, match="4 to 12 digits"):
        store.set_pin("12a4")
    # a second start with another GIEOK_KIOSK_PIN does not replace the PIN changed on the screen
    assert OperatorStore(tmp_path, initial_pin="24680").has_pin()
    OperatorStore(tmp_path, clock=lambda: now[0] + 100).check_pin("13579", "x")


def test_settings_are_checked_and_leaving_kiosk_mode_opens_the_studio_once(tmp_path):
    store = OperatorStore(tmp_path)
    assert store.settings().page_count == 4 and store.settings().idle_timeout_s == 120
    with pytest.raises(KioskError):
        store.save_settings(page_count=40)
    assert store.save_settings(page_count=6, printing=False).page_count == 6
    assert store.settings().printing is False
    exposed = Settings(data_dir=tmp_path, mode="kiosk", host="0.0.0.0")
    assert start_mode(exposed) == ("kiosk", "0.0.0.0")
    store.save_settings(next_start="studio")
    assert start_mode(exposed) == ("local", "127.0.0.1")  # the family studio, on this machine only
    assert start_mode(exposed) == ("kiosk", "0.0.0.0")  # once


def test_the_pin_guards_settings_dashboard_and_leaving(kiosk_app, client_for, tmp_path):
    from studio.backends.base import BackendError

    url, services, clock, _ = kiosk_app
    visitor = client_for(url)
    _visit(visitor, tmp_path)  # one visitor's book: four jobs in the log
    writer = services.backends.get("writer", "storyteller")

    def broken(request, cancel):
        raise BackendError("story.writer_unavailable", writer="Offline storyteller", reason="disk full")

    writer.write_story, real_write = broken, writer.write_story
    try:  # a second visitor's book fails at its first stage: one failed job
        with pytest.raises(Exception, match="disk full"):
            _visit(client_for(url), tmp_path, name="영희")
    finally:
        writer.write_story = real_write
    c = client_for(url)
    for api, args in (("/operator_dashboard", ()), ("/operator_save", (6, "watercolor", 90, 5, True, 2, "en", 7, "", "", "")),
                      ("/operator_leave", ()), ("/operator_csv", ()), ("/operator_purge", ())):
        with pytest.raises(Exception, match="PIN"):
            c.predict(*args, api_name=api)
    with pytest.raises(Exception, match="PIN이 맞지 않아요"):
        c.predict("0000", api_name="/operator_unlock")
    with pytest.raises(Exception, match="기다려"):
        c.predict(PIN, api_name="/operator_unlock")  # rate-limited: the right PIN waits too
    with pytest.raises(Exception, match="PIN"):
        c.predict(api_name="/operator_dashboard")
    clock.t += 5
    opened = c.predict(PIN, api_name="/operator_unlock")
    assert "작업 5건" in opened[2] and "완료 4" in opened[2] and "실패 1" in opened[2] and "관람객 2명" in opened[2]
    per_hour_plot = opened[3].get("value", opened[3])  # an update: the plot's axes are named in Korean
    assert per_hour_plot["columns"][:2] == ["hour", "jobs"] and sum(row[1] for row in per_hour_plot["data"]) == 5
    assert (opened[3].get("x_title"), opened[3].get("y_title")) == ("시각", "작업 수")
    failures = opened[5].get("value", opened[5])
    rate = failures["columns"].index("failure_rate")
    assert sum(row[rate] * row[1] / 100 for row in failures["data"]) == pytest.approx(1, abs=0.05)  # 1 of 5, in %
    assert all(re.fullmatch(r"\d\d-\d\d \d\d:00", row[0]) for row in failures["data"])  # hours an operator reads
    assert opened[5]["sort"] == [row[0] for row in failures["data"]] and opened[5]["y_lim"] == [0, 100]

    c.predict(6, "watercolor", 90, 5, True, 2, "en", 7, "storyteller", "", "", api_name="/operator_save")
    saved = services.kiosk.settings
    assert (saved.page_count, saved.idle_timeout_s, saved.link_lifetime_s, saved.language) == (6, 90, 300, "en")
    assert services.settings.writer == "storyteller" and services.settings.illustrator == "auto"
    with pytest.raises(Exception, match="처음으로 돌아가는 시간은 30~3600초"):
        c.predict(6, "watercolor", 5, 5, True, 2, "en", 7, "", "", "", api_name="/operator_save")
    with pytest.raises(Exception, match="not in the list"):  # only backends that can run here are offered
        c.predict(6, "watercolor", 90, 5, True, 2, "en", 7, "", "diffusers", "", api_name="/operator_save")
    operator = "anon:" + "f" * 32
    services.kiosk.unlock(operator, PIN, "test")
    with pytest.raises(KioskError, match="cannot run on this machine"):  # no Stable Diffusion weights here
        services.kiosk.save_settings(operator, illustrator="diffusers")
    assert services.settings.illustrator == "auto" and services.kiosk.settings.illustrator == ""
    assert services.kiosk.settings.idle_timeout_s == 90  # refused: nothing changed

    exported = c.predict(api_name="/operator_csv")
    with open(exported["value"]["path"] if "value" in exported else exported["path"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["kind"] for r in rows) == ["kiosk_illustrate", "kiosk_narrate", "kiosk_pdf", "kiosk_story",
                                               "kiosk_story"]
    assert sorted((r["outcome"], r["error"]) for r in rows) == [("done", "")] * 4 + [("failed", "BackendError")]
    assert len({r["owner"] for r in rows}) == 2
    assert all(not r["owner"].startswith("anon:") for r in rows)  # hashed: who it was is not in the log

    assert "작업 기록 파일 0개" in c.predict(api_name="/operator_purge")  # nothing is older than the window yet
    assert services.store.owners()  # the visitor is still here...
    c.predict(api_name="/operator_leave")
    assert services.store.owners() == []  # ...and is forgotten when the kiosk closes
    assert OperatorStore(services.settings.data_dir).settings().next_start == "studio"
    other = client_for(url)  # unlocking is per page: another page is not the operator
    with pytest.raises(Exception, match="PIN"):
        other.predict(api_name="/operator_dashboard")


def test_dashboard_figures_count_failures_and_the_log_rotates(tmp_path):
    now = [1_800_000_000.0]
    log = JobLog(tmp_path, max_bytes=600, clock=lambda: now[0])
    for i in range(6):
        log.record("kiosk_illustrate", f"anon:{i % 2}", 8.0, "done" if i < 5 else "failed", pages=4,
                   backend="sketch", error="" if i < 5 else "BackendError", running=1 + i % 3)
        now[0] += 600
    assert len(log.files()) > 1  # rotated by size, nothing lost
    entries = log.read()
    counts = summary(entries)
    assert (counts["jobs"], counts["done"], counts["failed"], counts["visitors"]) == (6, 5, 1, 2)
    assert counts["seconds_per_page"] == 2.0
    hourly = per_hour(entries)
    assert hourly["jobs"].sum() == 6 and hourly["queue"].max() == 3
    assert abs(hourly["failure_rate"].max() - 1 / hourly.loc[hourly["failure_rate"] > 0, "jobs"].iloc[0]) < 1e-9
    now[0] += 2 * 86400
    log.record("kiosk_pdf", "anon:9", 1.0, "done")  # a new day: a new file
    old_files = len(log.files()) - 1
    assert log.purge(older_than_s=86400, now=now[0] + 86400 * 30) == old_files
    assert [e["kind"] for e in log.read()] == ["kiosk_pdf"]
    (log.current).write_text(log.current.read_text() + '{"time": 1, "kind": "torn')  # a crash mid-line
    assert len(log.read()) == 1


def test_studio_jobs_are_logged_with_their_outcome(services):
    from studio.backends.base import Cancelled
    from studio.jobs import Jobs

    log = JobLog(services.settings.data_dir)
    services.limits.job_log = log
    jobs = Jobs(services.limits)
    token = jobs.start("local", "story", pages=6)
    jobs.finish("local", "story", token)
    for error in (ValueError("bad"), Cancelled("stopped")):
        token = jobs.start("local", "narrate")
        try:
            raise error
        except Exception:
            jobs.finish("local", "narrate", token)  # as the tabs do, in a finally
    assert [(e["kind"], e["outcome"], e["error"], e["pages"]) for e in log.read()] == [
        ("story", "done", "", 6), ("narrate", "failed", "ValueError", 0), ("narrate", "cancelled", "", 0)]


def test_the_studio_dashboard_tab_shows_the_jobs_the_tabs_ran(launch_app, client_for):
    url, services = launch_app()
    c = client_for(url)
    c.predict("할머니의 감나무", "", "ko", 4, api_name="/create_book")
    c.predict("storyteller", 7, "순자", "할머니", "웃음이 많은", "감나무", "겨울마다 감을 말려 주셨다",
              "gentle fairy tale", "5-8", 4, "ko", api_name="/write_story")
    c.predict(api_name="/illustrate_book")
    summary = c.predict(api_name="/dashboard")[0]
    assert "2 jobs — 2 done, 0 failed" in summary and "visitors served: 1" in summary
    entries = {e["kind"]: e for e in services.limits.job_log.read()}
    assert sorted(entries) == ["illustrate", "story"]
    # what each job made and with what, so "seconds per page" means something in the studio too
    assert entries["story"]["pages"] == 4 and entries["story"]["backend"] == "storyteller"
    assert entries["illustrate"]["pages"] == 4 and entries["illustrate"]["backend"] == "sketch"
    assert " 0 s per page" not in c.predict(api_name="/dashboard")[0]
    assert refused(c, False, api_name="/narrate_book")  # no voice yet: refused, which is not a failed job
    assert len(services.limits.job_log.read()) == 2


def test_seconds_per_page_adds_up_the_stages_of_a_page(tmp_path):
    log = JobLog(tmp_path, clock=lambda: 1_800_000_000.0)
    for kind, seconds in (("kiosk_story", 4.0), ("kiosk_illustrate", 8.0), ("kiosk_narrate", 12.0)):
        log.record(kind, "anon:1", seconds, "done", pages=4)
    log.record("kiosk_illustrate", "anon:2", 99.0, "failed", pages=4, error="BackendError")  # not a made page
    assert summary(log.read())["seconds_per_page"] == 6.0  # 1 + 2 + 3 seconds for one page of a book
    assert per_hour(log.read())["seconds_per_page"].tolist() == [6.0]
