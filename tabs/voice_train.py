"""The Voice tab's Train section: check the recordings, choose a preset, see how long it will take,
train with progress, a loss curve and samples, continue after a stop or a restart, export.

Handlers are thin: UI values -> one call into ``studio.train_voice`` -> UI values. A refused
action shows one message in the visitor's language and leaves every output as it was.
"""
from __future__ import annotations

import functools
import time

import gradio as gr

from studio import lifecycle, narrate, zerogpu
from studio.audio import read_wav
from studio.backends.base import Cancelled
from studio.jobs import Jobs
from studio.messages import Localized
from studio.train_voice import plan, session
from tabs.common import (GPU_LINE, TabContext, refuse, require_book, require_owner, say, user_errors,
                         visitor_language)

WARN = "※ "  # a plain glyph: many computers have no colour-emoji font
SAMPLE_SLOTS = 6  # the speech before conversion + the latest five epoch samples, side by side
YIELD_EVERY_S = 0.5  # progress reaches the page at most this often (steps can be milliseconds)


def build_train_section(ctx: TabContext, voice_dd: gr.Dropdown, tab: gr.Tab, changed: list = ()) -> None:
    """``changed``: components the voice section rewrites when its recordings or consent change
    (the chosen voice stays the same, so ``voice_dd`` alone would leave this section stale)."""
    services, t = ctx.services, ctx.t
    # On ZeroGPU a GPU is lent per call: training runs in windows that each fit one turn
    # (registered now, at start-up, so the forked GPU worker finds it). Elsewhere: one stream.
    gpu_window = zerogpu.GpuFunction("train_voice", functools.partial(session.run_window, services),
                                     session.window_units, services.settings) if zerogpu.on_zerogpu() else None
    jobs = Jobs(services.limits)  # one long job at a time per visitor on a shared server
    gr.Markdown(f"### {t('voice_train_ui.title')}")
    gr.Markdown(t("voice_train_ui.intro"), elem_classes=["gieok-hint"])
    consent_md = gr.Markdown()
    with gr.Row():
        survey_md = gr.Markdown()
        survey_btn = gr.Button(t("voice_train_ui.survey"), scale=0)
    preset_radio = gr.Radio([(t(_PRESET_LABELS[k]) if k in _PRESET_LABELS else k, k) for k in plan.PRESETS],
                            value=plan.DEFAULT_PRESET,
                            label=t("voice_train_ui.preset"))
    with gr.Accordion(t("voice_train_ui.advanced"), open=False):
        with gr.Row():
            pre_g = gr.Textbox(label=t("voice_train_ui.pretrained_g"), max_length=300, placeholder="owner/repo/f0G40k.pth")
            pre_d = gr.Textbox(label=t("voice_train_ui.pretrained_d"), max_length=300, placeholder="owner/repo/f0D40k.pth")
        pitch_radio = gr.Radio([(t(f"voice_train_ui.f0_{m}"), m) for m in narrate.F0_METHODS],
                               value=narrate.default_f0_method(services.settings.rmvpe_model),
                               label=t("voice_train_ui.f0"), info=t("voice_train_ui.f0_info"))
        pitch_md = gr.Markdown(elem_classes=["gieok-hint"])
    with gr.Row():
        estimate_btn = gr.Button(t("voice_train_ui.estimate"))
        start_btn = gr.Button(t("voice_train_ui.start"), variant="primary")
        resume_btn = gr.Button(t("voice_train_ui.resume"), visible=False)
        cancel_btn = gr.Button(t("voice_train_ui.cancel"), variant="stop")
    estimate_md = gr.Markdown()
    status_md = gr.Markdown()
    warn_md = gr.Markdown(elem_classes=["gieok-notice"], visible=False)
    plot = gr.LinePlot(x="step", y="value", color="loss", label=t("voice_train_ui.plot"), height=260,
                       x_title=t("voice_train_ui.plot_step"), y_title=t("voice_train_ui.plot_value"),
                       color_title=t("voice_train_ui.plot_loss"))
    with gr.Row():
        slots = [gr.Audio(interactive=False, visible=False) for _ in range(SAMPLE_SLOTS)]
    with gr.Row():
        export_btn = gr.Button(t("voice_train_ui.export"))
        export_file = gr.File(label=t("voice_train_ui.export_file"), interactive=False)
        export_consent = gr.Markdown()

    view_outputs = [consent_md, survey_md, preset_radio, status_md, warn_md, plot, resume_btn, *slots, pitch_md]
    run_outputs = [status_md, warn_md, plot, resume_btn, *slots]

    def view(owner, book_id, voice_id, preset_key=plan.DEFAULT_PRESET):
        if not (owner and book_id and voice_id):
            return (say("voice_train_ui.choose_voice"), "", gr.update(), "", "", None, gr.update(visible=False),
                    *[gr.update(visible=False) for _ in slots], gr.update())
        owner = require_owner(owner)  # the state is checked against this call's own visitor
        voice = services.store.get(owner, book_id).voice(voice_id)
        found = _survey_text(services, owner, book_id, voice_id, preset_key) if voice.recordings \
            else say("train_voice.no_recordings")
        st = session.status(services, owner, voice_id)
        run = st["run"]
        presets = gr.update(choices=_preset_choices())
        return (_consent_text(voice), found, presets, _status_text(run, st["resumable"]),
                _warning(run), _frame(run), gr.update(visible=st["resumable"]),
                *_slot_updates(st["samples"]), _pitch_text(services))

    @user_errors
    def refresh(owner, book_id, voice_id, preset_key):
        return view(owner, book_id, voice_id, preset_key if preset_key in plan.PRESETS
                    else plan.DEFAULT_PRESET)

    @user_errors
    def check(owner, book_id, voice_id, preset_key):
        owner, book_id, voice_id = _ids(owner, book_id, voice_id)
        return _survey_text(services, owner, book_id, voice_id, preset_key, strict=True)

    @user_errors
    def estimate(owner, book_id, voice_id, preset_key, g, d, f0_method="pm"):
        owner, book_id, voice_id = _ids(owner, book_id, voice_id)
        est = plan.estimate(services, owner, book_id, voice_id, plan.preset(preset_key), g, d, f0_method=f0_method)
        return _estimate_text(est)

    def run(owner, book_id, voice_id, preset_key, g, d, f0_method, fresh):
        owner, book_id, voice_id = _ids(owner, book_id, voice_id)
        token = jobs.start(owner, "train_voice")
        last_yield, shown_samples = 0.0, -1
        try:
            window = session.steps_per_turn(gpu_window.clock) if gpu_window else None
            events = session.train(services, owner, book_id, voice_id, preset_key, token, fresh, (g, d), window,
                                   gpu_window, f0_method=f0_method or "pm")
            for event in events:
                if event.payload.get("event") == "step" and time.monotonic() - last_yield < YIELD_EVERY_S:
                    continue
                last_yield = time.monotonic()
                st = session.status(services, owner, voice_id)  # the run record: curve, warning, samples
                found = st["samples"]
                slot_updates = _slot_updates(found) if len(found) != shown_samples else [gr.update()] * len(slots)
                shown_samples = len(found)
                yield (_event_text(event), _warning(st["run"]), _frame(st["run"]),
                       gr.update(visible=False), *slot_updates)
            st = session.status(services, owner, voice_id)
            yield (say("voice_train_ui.finished"), _warning(st["run"]), _frame(st["run"]),
                   gr.update(visible=False), *_slot_updates(st["samples"]))
        except Cancelled:
            st = session.status(services, owner, voice_id)
            yield (_status_text(st["run"], st["resumable"], stopped=True), _warning(st["run"]),
                   _frame(st["run"]), gr.update(visible=st["resumable"]), *_slot_updates(st["samples"]))
        finally:
            jobs.finish(owner, "train_voice", token)

    starting_over: set = set()  # (owner, voice) whose stopped training a second Start may discard

    @user_errors
    def start(owner, book_id, voice_id, preset_key, g, d, f0_method="pm"):
        owner, book_id, voice_id = _ids(owner, book_id, voice_id)
        if session.status(services, owner, voice_id)["resumable"] and (owner, voice_id) not in starting_over:
            starting_over.add((owner, voice_id))  # hours of training are not thrown away by one click
            refuse("voice_train_ui.start_over_confirm")
        starting_over.discard((owner, voice_id))
        yield from run(owner, book_id, voice_id, preset_key, g, d, f0_method, True)

    @user_errors
    def resume(owner, book_id, voice_id, preset_key, g, d, f0_method="pm"):
        yield from run(owner, book_id, voice_id, preset_key, g, d, f0_method, False)  # the saved run's method

    @user_errors
    def cancel(owner):
        stopped = jobs.cancel(require_owner(owner), "train_voice")
        return say(("voice_train_ui.stopping" if stopped else "voice_train_ui.nothing_running"))

    @user_errors
    def export(owner, book_id, voice_id):
        owner, book_id, voice_id = _ids(owner, book_id, voice_id)
        path = session.export_model(services, owner, book_id, voice_id, lifecycle.new_export_dir())
        voice = services.store.get(owner, book_id).voice(voice_id)
        return str(path), _consent_text(voice, full=True)

    ids = [ctx.owner, ctx.book_id, voice_dd]
    form = [*ids, preset_radio, pre_g, pre_d, pitch_radio]
    tab.select(refresh, [*ids, preset_radio], view_outputs, api_name="voice_train_refresh")
    # one listener for all three: a voice chosen or made changes all of them at once, and each run
    # surveys every recording (decode, slice, pitch); a run pending takes the latest change once
    gr.on([c.change for c in (voice_dd, *changed)], refresh, [*ids, preset_radio], view_outputs,
          trigger_mode="always_last", api_visibility="private")
    survey_btn.click(check, [*ids, preset_radio], survey_md, api_name="voice_train_survey")
    estimate_btn.click(estimate, form, estimate_md, api_name="voice_train_estimate", **GPU_LINE)
    start_btn.click(start, form, run_outputs, api_name="voice_train_start", **GPU_LINE)
    resume_btn.click(resume, form, run_outputs, api_name="voice_train_resume", **GPU_LINE)
    cancel_btn.click(cancel, [ctx.owner], status_md, api_name="voice_train_cancel")
    export_btn.click(export, ids, [export_file, export_consent], api_name="voice_train_export")


def _ids(owner, book_id, voice_id):
    owner, book_id = require_owner(owner), require_book(book_id)  # the owner checked against this call
    if not voice_id:
        refuse("voice_train_ui.choose_voice")
    return owner, book_id, voice_id



# -- words ---------------------------------------------------------------------------------------
def duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return say("voice_train_ui.dur_seconds", seconds=max(1, round(seconds)))
    minutes = round(seconds / 60)
    if minutes < 60:
        return say("voice_train_ui.dur_minutes", minutes=minutes)
    return say("voice_train_ui.dur_hours", hours=minutes // 60, minutes=minutes % 60)


def _survey_text(services, owner, book_id, voice_id, preset_key, strict=False) -> str:
    p = plan.preset(preset_key or plan.DEFAULT_PRESET)
    try:
        found = plan.survey_voice(services, owner, book_id, voice_id, p)
    except Exception as exc:  # noqa: BLE001 - a refusal is shown in the box, anything else goes up
        if strict or not isinstance(exc, Localized):
            raise
        return WARN + exc.render(visitor_language())
    s = found.summary()
    lines = [say("voice_train_ui.survey_minutes", given=s["given_minutes"], recordings=s["recordings"],
                  speech=s["speech_minutes"], slices=s["slices"])]
    if s["rejected"]:
        reasons = ", ".join(f"{say(k, seconds='…')} × {n}" for k, n in s["rejected"].items())
        lines.append(say("voice_train_ui.survey_rejected", count=sum(s["rejected"].values()), reasons=reasons))
    lines.append(say(("voice_train_ui.survey_enough" if s["enough"] else "voice_train_ui.survey_not_enough")))
    lines += [WARN + say(k, **v) for k, v in found.warnings]
    lines += [say("voice_train_ui.music_clip", name=flag.source, reasons=", ".join(say(r) for r in flag.reasons))
              for flag in found.music]  # which recordings, and what sounded like music in each
    epochs = " · ".join(f"{label}: {plan.epochs_for(plan.PRESETS[k], found.speech_s / 60)}"
                        for label, k in _preset_choices())
    lines.append(say("voice_train_ui.survey_epochs", presets=epochs))
    return "\n\n".join(lines)


def _pitch_text(services) -> str:
    """Why a pitch method is not offered here (FCPE counts only when it really imports)."""
    missing = [(m, reason) for m, reason in plan.pitch_methods(services.settings).items() if reason]
    return "\n\n".join(say("voice_train_ui.f0_missing", method=say(f"voice_train_ui.f0_{m}"),
                             reason=reason) for m, reason in missing)


def _estimate_text(est: plan.Estimate) -> str:
    where = ("voice_train_ui.estimate_gpu_here" if est.device == "cuda" else "voice_train_ui.estimate_cpu_here")
    lines = [say(where, time=duration(est.total_s), epochs=est.epochs, steps=est.total_steps,
                  per_step=f"{est.seconds_per_step:.2f}")]
    if est.gpu_s is not None:
        lines.append(say("voice_train_ui.estimate_gpu_field", time=duration(est.gpu_s)))
    return "\n\n".join(lines)


def _progress_line(data: dict) -> str:
    eta = data.get("eta_s")
    line = say("voice_train_ui.progress", epoch=data.get("epoch", 0), epochs=data.get("epochs", 0),
                step=data.get("step", 0), total=data.get("total_steps", 0), percent=data.get("percent", 0),
                eta=say("voice_train_ui.eta_unknown") if eta is None else duration(eta))
    losses = data.get("losses")
    if losses:
        line += "\n\n" + say("voice_train_ui.losses", **{k: f"{v:.3f}" for k, v in losses.items()})
    return line


def _event_text(event) -> str:
    data = event.payload
    kind = data.get("event")
    if kind == "survey":
        s = data["summary"]
        return say("voice_train_ui.phase_survey", speech=s["speech_minutes"], slices=s["slices"])
    if kind == "features":
        return say("voice_train_ui.phase_features", computed=data["computed"], cached=data["cached"])
    if kind == "published":
        return say("train_voice.published")
    values = {k: round(v, 3) if isinstance(v, float) else v  # the trainer's values
              for k, v in data.items() if isinstance(v, (int, float, str))}
    head = "" if kind == "step" else say(event.message, **values) + "\n\n"
    return head + _progress_line(data)


def _status_text(run: dict, resumable: bool, stopped: bool = False) -> str:
    state, last = run.get("state"), run.get("last") or {}
    if not state:
        return say("voice_train_ui.never_trained")
    if state == "done":
        return say("voice_train_ui.finished")
    line = _progress_line(last) if last else ""
    if resumable:
        head = say("voice_train_ui.stopped_resumable")
    elif state == "running" and not stopped:
        return line
    else:
        head = say("voice_train_ui.stopped_early")
    return head + ("\n\n" + line if line else "")


def _warn_text(run: dict) -> str:
    epoch = run.get("overtraining")
    return "" if not epoch else WARN + say("train_voice.warn_overtraining", epoch=epoch)


def _warning(run: dict):
    said = _warn_text(run)
    return gr.update(value=said, visible=bool(said))


_PRESET_LABELS = {"quick": "voice_train_ui.preset_quick", "balanced": "voice_train_ui.preset_balanced",
                  "best": "voice_train_ui.preset_best"}


def _preset_choices() -> list[tuple[str, str]]:
    """Presets in the visitor's language (one added elsewhere, e.g. by a test, shows its key)."""
    return [(say(_PRESET_LABELS[k]) if k in _PRESET_LABELS else k, k) for k in plan.PRESETS]


def _frame(run: dict):
    import pandas as pd

    rows = [{"step": p["step"], "loss": name, "value": p[name]}
            for p in run.get("losses") or [] for name in ("mel", "kl", "fm", "gen", "d") if name in p]
    return pd.DataFrame(rows, columns=["step", "loss", "value"])


def _slot_updates(found: list) -> list:
    shown = ([found[0]] if found and found[0][0] == 0 else []) + [s for s in found if s[0] > 0][-(SAMPLE_SLOTS - 1):]
    updates = []
    for epoch, path in shown:
        samples, rate = read_wav(path)  # the data dir is not served: hand the page the numbers
        label = say(("voice_train_ui.sample_standard" if epoch == 0 else "voice_train_ui.sample_epoch"), epoch=epoch)
        updates.append(gr.update(value=(rate, (samples.clip(-1, 1) * 32767).astype("int16")), label=label,
                                 visible=True))
    return updates + [gr.update(value=None, visible=False)] * (SAMPLE_SLOTS - len(updates))


def _consent_text(voice, full: bool = False) -> str:
    c = voice.consent
    if c is None or not c.complete:
        return WARN + say("voice_train_ui.consent_missing", voice=voice.name)
    line = say("voice_train_ui.consent_given", given_by=c.given_by, relation=c.relation, date=c.date)
    return line + (f"\n\n> {c.statement}" if full else "")
