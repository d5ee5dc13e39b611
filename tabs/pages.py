"""Pages tab: illustrate each page — prompt, style, LoRAs, pose, ControlNet, img2img, tone —
make variants and keep one, or illustrate the whole book in one job (cancellable)."""
from __future__ import annotations

import os
import secrets

import gradio as gr

from studio import illustrate, page_inputs, poses, style_presets
from studio.story import escape_md
from studio.book import CONTROL_KINDS, TONES
from studio.backends.diffusers_sd import SCHEDULERS
from studio.backends.remote.common import visitor_credentials, with_credentials
from studio.jobs import Jobs
from tabs.common import (GPU_LINE, TabContext, engine_line, next_button, queue_line, refuse, require_book,
                         require_owner, reveal_next, say, user_errors, visitor_language)
from tabs.pages_views import (LORA_SLOTS, RANDOM_SEED, choice_id, form_values, memory_choices, memory_ref,
                              overview_view, page_choices, pose_view, spec_from_form, style_choices, variants_view)

TITLE = "tab.pages"
STEP = 0.06  # how far one arrow press moves a person (fraction of the picture)


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    store, jobs = services.store, Jobs(services.limits)
    status = gr.Markdown(elem_classes=["gieok-notice"])
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            page = gr.Dropdown(label=t("pg.page"), choices=[], interactive=True)
            page_text = gr.Markdown(elem_classes=["gieok-page-text"])
            locked = gr.Checkbox(label=t("pg.locked"))
            style = gr.Dropdown(label=t("pg.style"), choices=[(t("pg.no_style"), "")] + [
                (s.name_en, k) for k, s in illustrate.styles().items()], value="")
            tone = gr.Radio([(t(f"pg.tone_{k}"), k) for k in TONES], value="neutral", label=t("pg.tone"))
            with gr.Row():
                seed = gr.Number(label=t("pg.seed"), value=RANDOM_SEED, precision=0, minimum=RANDOM_SEED, maximum=2**31 - 1)
                seed_locked = gr.Checkbox(label=t("pg.lock"))
                dice = gr.Button(t("pg.dice"), size="sm")
            with gr.Row():
                count = gr.Slider(1, illustrate.MAX_VARIANTS, value=3, step=1, label=t("pg.count"))
                generate = gr.Button(t("pg.generate"), variant="primary")
            with gr.Accordion(t("pg.advanced"), open=False):  # model words (English) and knobs
                prompt = gr.Textbox(label=t("pg.prompt"), lines=3, max_length=2000)
                recompose = gr.Button(t("pg.recompose"), size="sm")
                negative = gr.Textbox(label=t("pg.negative"), lines=2, max_length=1000)
                with gr.Row():
                    steps = gr.Slider(1, 100, value=25, step=1, label=t("pg.steps"))
                    guidance = gr.Slider(0, 20, value=7, step=0.5, label=t("pg.guidance"))
                with gr.Row():
                    width = gr.Slider(64, illustrate.MAX_SIDE, value=512, step=8, label=t("pg.width"))
                    height = gr.Slider(64, illustrate.MAX_SIDE, value=512, step=8, label=t("pg.height"))
                scheduler = gr.Dropdown(list(SCHEDULERS), value="default", label=t("pg.scheduler"))
                gr.Markdown(f"#### {t('pg.loras')}")
                slots = []
                for _ in range(LORA_SLOTS):
                    with gr.Row():
                        slots += [gr.Dropdown(label=t("pg.lora"), choices=[("—", "")], value="", scale=2),
                                  gr.Slider(-1, 2, value=0.8, step=0.05, label=t("pg.weight"), scale=1)]
                lora_upload = gr.File(label=t("pg.upload_lora"), type="filepath", file_types=[".safetensors"], height=150)
        with gr.Column(scale=2):
            gallery = gr.Gallery(label=t("pg.variants"), columns=4, height=360, object_fit="contain", allow_preview=True,
                                 elem_id="gieok-variants")
            with gr.Row():
                variant = gr.Dropdown(label=t("pg.variant"), choices=[], value=None, scale=2)
                choose = gr.Button(t("pg.choose"), variant="primary")
                again = gr.Button(t("pg.reproduce"))
            made_md = gr.Markdown(elem_classes=["gieok-notice"])
            gr.Markdown(f"### {t('pg.book')}")
            overview = gr.Gallery(show_label=False, columns=6, height=220, object_fit="contain", allow_preview=False)
            with gr.Row():
                whole = gr.Button(t("pg.all"), variant="primary")
                stop = gr.Button(t("pg.cancel"), variant="stop")
            progress_md = gr.Markdown(elem_classes=["gieok-notice"])
            to_voice = next_button(ctx, "pg.to_voice", "voice")
            with gr.Accordion(t("pg.control"), open=False):
                kind = gr.Radio([(t(f"pg.kind_{k}"), k) for k in CONTROL_KINDS], value="none", label=t("pg.kind"))
                with gr.Row():
                    scale = gr.Slider(0, 2, value=0.8, step=0.05, label=t("pg.scale"))
                    start = gr.Slider(0, 1, value=0, step=0.05, label=t("pg.start"))
                    end = gr.Slider(0, 1, value=1, step=0.05, label=t("pg.end"))
                pose_id = gr.Dropdown(label=t("pg.pose"), choices=poses.bundled_choices("en"), value=None)
                pose_img = gr.Image(label=t("pg.pose_img"), type="pil", interactive=False, height=320, elem_id="gieok-pose-editor")
                with gr.Row():
                    person = gr.Dropdown(label=t("pg.person"), choices=[("1", 0)], value=0, scale=2, min_width=80)
                    moves = {op: gr.Button(op, size="sm", min_width=40) for op in ("←", "→", "↑", "↓", "−", "+")}
                    mirror = gr.Button(t("pg.mirror"), size="sm")
                with gr.Row():  # photos as files: gr.Image would decode them before the studio checks them
                    map_photo = gr.File(label=t("pg.map_photo"), type="filepath", file_types=["image", ".heic", ".heif", ".avif"], height=180)
                    map_view = gr.Image(label=t("pg.map"), type="pil", interactive=False, height=180)
                detect = gr.Button(t("pg.detect"), size="sm")
            with gr.Accordion(t("pg.img2img"), open=False):
                init_photo = gr.File(label=t("pg.init"), type="filepath", file_types=["image", ".heic", ".heif", ".avif"], height=160)
                memory = gr.Dropdown(label=t("pg.memory"), choices=[], value=None)
                strength = gr.Slider(0, 1, value=0.6, step=0.05, label=t("pg.strength"))
                clear_init = gr.Button(t("pg.clear_init"), size="sm")
    selected = gr.State(None)  # (person, joint) picked in the pose editor, per visitor
    form = [prompt, negative, seed, seed_locked, steps, guidance, width, height, scheduler, style, *slots,
            kind, scale, start, end, strength, tone]

    def load(owner, book_id, page_id):
        book = store.get(require_owner(owner), require_book(book_id))
        if not page_id:
            refuse("common.no_page")
        return book, book.page(page_id)

    # -- handlers --------------------------------------------------------------------------
    @user_errors
    def list_pages(owner, book_id, current):
        line = engine_line(services, "illustrator")
        if not (owner and book_id):
            return gr.update(choices=[], value=None), [], line
        book = store.get(owner, book_id)
        ids = [p.id for p in book.pages]
        value = current if current in ids else (ids[0] if ids else None)
        return gr.update(choices=page_choices(book), value=value), overview_view(services, book), line

    def list_styles(owner):  # a style trained on the Likeness tab meanwhile shows at once (the owner's only)
        return gr.update(choices=style_choices(services, owner))

    @user_errors
    def show_page(owner, book_id, page_id):
        if not (owner and book_id and page_id):  # no book or no pages yet: leave the form as it is
            return [gr.update()] * len(shown)
        book, pg = load(owner, book_id, page_id)
        return (f"**{book.pages.index(pg) + 1}.** {escape_md(pg.text)}", pg.locked, *form_values(services, book, pg),
                gr.update(choices=poses.bundled_choices(visitor_language()), value=pg.image.control.pose_id or (
                    pg.pose_hint if pg.pose_hint in poses.bundled_names() else None)),
                *pose_view(pg), page_inputs.map_preview(services, pg, pg.image.control.kind, owner),
                gr.update(choices=memory_choices(book), value=choice_id("photo", pg.image.init_image)
                          if pg.image.init_image in book.memories.photos else None),
                *variants_view(services, owner, pg), None)

    @user_errors
    def generate_variants(owner, book_id, page_id, n, oauth: gr.OAuthToken | None,
                          progress=gr.Progress(), *values):  # noqa: B008 - Gradio's way
        """Seeds as typed (12345 -> 12345, 12346, ...; -1 -> new ones); unless "keep this seed" is
        ticked, the seed box then moves on so the next press makes different pictures."""
        book, pg = load(owner, book_id, page_id)
        spec = spec_from_form(services, book, pg, list(values))
        token = jobs.start(owner, "illustrate")
        try:
            made = illustrate.generate_variants(
                services, owner, book_id, page_id, spec, int(n), cancel=token,  # the visitor's own token pays
                backend=with_credentials(services.backends.active("illustrator"), visitor_credentials(oauth)),
                on_step=lambda i, total, s, ss: progress((i + s / max(1, ss)) / total,
                                                         desc=say("pg.making", number=i + 1, count=total)))
            jobs.note(token, pages=len(made), steps=spec.steps * len(made), backend=made[0].backend if made else "")
        finally:
            jobs.finish(owner, "illustrate", token)
        book, pg = load(owner, book_id, page_id)
        seeds = ", ".join(str(v.params["spec"]["seed"]) for v in made)
        next_seed = spec.seed if spec.seed_locked else (RANDOM_SEED if spec.seed == RANDOM_SEED else secrets.randbelow(2**31))
        note = illustrate.dropped_words_note(made, visitor_language())  # prompt words the model could not read
        status = say("pg.made", count=len(made), seeds=seeds) + (f"\n{note}" if note else "")
        return (*variants_view(services, owner, pg), overview_view(services, book), status, next_seed)

    @user_errors
    def choose_variant(owner, book_id, page_id, variant_id):
        if not variant_id:
            refuse("pg.pick_first")
        book = illustrate.choose_variant(services, require_owner(owner), require_book(book_id), page_id, variant_id)
        return (*variants_view(services, owner, book.page(page_id)), overview_view(services, book))

    @user_errors
    def reproduce(owner, book_id, page_id, variant_id, oauth: gr.OAuthToken | None = None):
        if not variant_id:
            refuse("pg.pick_first")
        made, same = illustrate.reproduce(services, require_owner(owner), require_book(book_id), page_id, variant_id,
                                          credentials=visitor_credentials(oauth))
        _, pg = load(owner, book_id, page_id)
        if same:
            note = say("pg.same")
        elif not illustrate.is_deterministic(made):  # the service never promised the same picture
            note = say("remote.remade_differs", service=made.params.get("service") or made.backend)
        else:
            note = say("pg.different")
        return (*variants_view(services, owner, pg), note)

    @user_errors
    def illustrate_book(owner, book_id, oauth: gr.OAuthToken | None = None,
                        progress=gr.Progress()):  # noqa: B008 - Gradio's way
        owner, book_id = require_owner(owner), require_book(book_id)
        if not store.get(owner, book_id).pages:  # not "every page has its picture" on a book with none
            refuse("pictures.missing.no_pages")
        token = jobs.start(owner, "illustrate")
        done_pages = 0
        try:
            backend = with_credentials(services.backends.active("illustrator"), visitor_credentials(oauth))
            # Page numbers once: a progress event comes every diffusion step, the book is re-read
            # only when a page is finished (the overview shows its new picture).
            numbers = {p.id: i + 1 for i, p in enumerate(store.get(owner, book_id).pages)}
            for event in illustrate.illustrate_book(services, owner, book_id, backend=backend, cancel=token):
                number = numbers.get(event.payload.get("page_id"), "")
                if "variant" in event.payload:
                    done_pages = event.done
                    jobs.note(token, pages=done_pages, backend=backend.name)
                    book = store.get(owner, book_id)
                    yield overview_view(services, book), say("pg.page_done", page=number, done=event.done, total=event.total)
                else:
                    progress((event.done + event.payload.get("step_fraction", 0)) / max(1, event.total),
                             desc=say("pg.page_step", page=number, done=event.done + 1, total=event.total))
        finally:
            jobs.finish(owner, "illustrate", token)
        book = store.get(owner, book_id)
        left = len(illustrate.pages_to_illustrate(book, illustrate.active_illustrator(services).name))
        line = (say("pg.book_done_left", count=done_pages, left=left) if left
                else say("pg.book_done", count=done_pages) if done_pages else say("pg.nothing_to_draw"))
        yield overview_view(services, book), line

    @user_errors
    def after_book(owner, book_id, page_id):
        """After a long job every panel shows what it made: this page's variants, the next step."""
        if not (owner and book_id):
            return gr.update(), gr.update(), gr.update()
        book = store.get(owner, book_id)
        ready = bool(book.pages) and all(p.chosen_image() for p in book.pages)
        if not page_id or page_id not in [p.id for p in book.pages]:
            return gr.update(), gr.update(), gr.update(visible=ready)
        return (*variants_view(services, owner, book.page(page_id)), gr.update(visible=ready))

    def variant_at(owner, book_id, page_id, evt: gr.SelectData):
        if not (owner and book_id and page_id):
            return gr.update()
        variants = store.get(owner, book_id).page(page_id).variants
        return variants[evt.index].id if 0 <= evt.index < len(variants) else gr.update()

    @user_errors
    def cancel(owner):
        return say("pg.stopping") if owner and jobs.cancel(owner, "illustrate") else ""

    @user_errors
    def pick_style(owner, book_id, page_id, style_id, *values):
        book, pg = load(owner, book_id, page_id)
        spec = style_presets.apply_style(services, owner, spec_from_form(services, book, pg, list(values)), style_id)
        spec.prompt = spec.negative_prompt = ""  # recompose with the new style
        illustrate.save_spec(services, owner, book_id, page_id, spec)
        book, pg = load(owner, book_id, page_id)
        return form_values(services, book, pg)

    @user_errors
    def set_locked(owner, book_id, page_id, value):
        book = store.update(require_owner(owner), require_book(book_id),
                            lambda b: setattr(b.page(page_id), "locked", bool(value)))
        return book.page(page_id).locked  # the box shows what was stored (a refusal leaves it as it was)

    @user_errors
    def choose_pose(owner, book_id, page_id, name):
        if not name:
            return gr.update(), gr.update(), gr.update()
        pg = page_inputs.choose_pose(services, require_owner(owner), require_book(book_id), page_id, name)
        return (*pose_view(pg), pg.image.control.kind)

    @user_errors
    def pose_click(owner, book_id, page_id, chosen, evt: gr.SelectData):
        _, pg = load(owner, book_id, page_id)
        w, h = pg.image.width, pg.image.height
        factor = 384 / max(w, h)
        x, y = evt.index[0] / max(1, int(w * factor)), evt.index[1] / max(1, int(h * factor))
        if chosen is None:
            hit = poses.nearest_joint(page_inputs.current_pose(pg), x, y, aspect=w / h)
            return pose_view(pg, highlight=hit)[0], hit
        pg = page_inputs.edit_pose(services, owner, book_id, page_id, lambda p: poses.move_joint(p, chosen[0], chosen[1], x, y))
        return pose_view(pg)[0], None

    def person_edit(op):
        moves_ = {"←": dict(dx=-STEP), "→": dict(dx=STEP), "↑": dict(dy=-STEP), "↓": dict(dy=STEP),
                  "−": dict(scale=0.9), "+": dict(scale=1.1), "mirror": dict(mirror=True)}[op]

        @user_errors
        def run(owner, book_id, page_id, who):
            pg = page_inputs.edit_pose(services, require_owner(owner), require_book(book_id), page_id,
                                       lambda p: poses.transform_person(p, int(who or 0), **moves_))
            return pose_view(pg)[0]

        return run

    @user_errors
    def upload_lora(owner, book_id, page_id, path):
        if not path:
            return [gr.update()] * len(form)
        page_inputs.add_user_lora(services, require_owner(owner), require_book(book_id), page_id, path, os.path.basename(path))
        book, pg = load(owner, book_id, page_id)
        return form_values(services, book, pg)

    def photo_setter(purpose):
        @user_errors
        def set_photo(owner, book_id, page_id, path):
            if not path:
                return gr.update()
            page_inputs.set_page_photo(services, require_owner(owner), require_book(book_id), page_id, path, purpose)
            return say(f"pg.photo_set_{purpose}")
        return set_photo

    @user_errors
    def preview_map(owner, book_id, page_id, kind_):
        return page_inputs.map_preview(services, load(owner, book_id, page_id)[1], kind_, owner)

    @user_errors
    def detect_pose(owner, book_id, page_id):
        pg = page_inputs.detect_pose(services, require_owner(owner), require_book(book_id), page_id)
        return (*pose_view(pg), "openpose")

    @user_errors
    def use_memory(owner, book_id, page_id, photo_id):
        if photo_id:
            owner, book_id = require_owner(owner), require_book(book_id)
            ref = memory_ref(store.get(owner, book_id), photo_id)
            if ref is None:
                refuse("pg.memory_gone")
            page_inputs.use_memory_photo(services, owner, book_id, page_id, ref)

    @user_errors
    def no_photo(owner, book_id, page_id):
        page_inputs.set_page_photo(services, require_owner(owner), require_book(book_id), page_id, None, "init")
        return None, None

    @user_errors
    def new_seed():
        return secrets.randbelow(2**31), False

    # -- wiring ----------------------------------------------------------------------------
    state = [ctx.owner, ctx.book_id]
    # remote engines: as many at once as their servers take; the picture made again may come from any engine
    drawing = queue_line(services, "pictures", {"illustrator": "active"})
    redrawing = queue_line(services, "pictures", {"illustrator": "any"})
    shown = [page_text, locked, *form, pose_id, pose_img, person, map_view, memory, gallery, variant, selected]
    gr.on([tab.select], list_pages, [*state, page], [page, overview, status], api_name="list_pages")
    gr.on([tab.select], list_styles, [ctx.owner], [style], api_name="list_styles")
    page.change(show_page, [*state, page], shown, api_name="show_page")
    generate.click(generate_variants, [*state, page, count, *form], [gallery, variant, overview, made_md, seed],
                   api_name="generate_variants", **drawing)
    gallery.select(variant_at, [*state, page], variant, api_visibility="private")
    choose.click(choose_variant, [*state, page, variant], [gallery, variant, overview], api_name="choose_variant")
    again.click(reproduce, [*state, page, variant], [gallery, variant, made_md], api_name="reproduce", **redrawing)
    reveal_next(whole.click(illustrate_book, state, [overview, progress_md], api_name="illustrate_book",
                            **drawing).then(
        after_book, [*state, page], [gallery, variant, to_voice], api_visibility="private"))
    stop.click(cancel, [ctx.owner], progress_md, api_name="cancel_illustration")
    style.input(pick_style, [*state, page, style, *form], form, api_name="pick_style")
    # recomposing is choosing the same style again: pick_style drops the edited prompts either way
    recompose.click(pick_style, [*state, page, style, *form], form, api_name="recompose_prompt",
                    api_visibility="private")
    dice.click(new_seed, None, [seed, seed_locked], api_visibility="private")
    locked.input(set_locked, [*state, page, locked], locked, api_name="lock_page")
    pose_id.input(choose_pose, [*state, page, pose_id], [pose_img, person, kind], api_name="choose_pose")
    pose_img.select(pose_click, [*state, page, selected], [pose_img, selected], api_visibility="private")
    for op, button in moves.items():
        button.click(person_edit(op), [*state, page, person], pose_img, api_visibility="private")
    mirror.click(person_edit("mirror"), [*state, page, person], pose_img, api_name="mirror_person")
    lora_upload.upload(upload_lora, [*state, page, lora_upload], form, api_name="upload_lora")
    kind.input(preview_map, [*state, page, kind], map_view, api_name="preview_map")
    map_photo.upload(photo_setter("control"), [*state, page, map_photo], status,
                     api_name="set_map_photo").then(preview_map, [*state, page, kind], map_view, api_visibility="private")
    init_photo.upload(photo_setter("init"), [*state, page, init_photo], status, api_name="set_init_photo")
    detect.click(detect_pose, [*state, page], [pose_img, person, kind], api_name="detect_pose", **GPU_LINE)
    memory.input(use_memory, [*state, page, memory], None, api_visibility="private")
    clear_init.click(no_photo, [*state, page], [init_photo, memory], api_visibility="private")
