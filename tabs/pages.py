"""Pages tab: illustrate each page — prompt, style, LoRAs, pose, ControlNet, img2img, tone —
make variants and keep one, or illustrate the whole book in one job (cancellable)."""
from __future__ import annotations

import functools
import secrets

import gradio as gr

from studio import illustrate, page_inputs, poses
from studio.book import CONTROL_KINDS, TONES, ImageSpec, LoraChoice
from studio.backends.diffusers_sd import SCHEDULERS
from studio.backends.remote.common import visitor_credentials, with_credentials
from studio.jobs import Jobs
from tabs.common import TabContext, require_book, require_owner, user_errors

TITLE = "tab.pages"
_EN = {
    "tab.pages": "Pages", "pg.page": "Page", "pg.style": "Style", "pg.prompt": "Prompt (edit freely)",
    "pg.recompose": "Compose again from style + characters + page", "pg.negative": "Negative prompt",
    "pg.seed": "Seed", "pg.lock": "Lock seed", "pg.dice": "🎲 New seed", "pg.steps": "Steps",
    "pg.guidance": "Guidance", "pg.width": "Width", "pg.height": "Height", "pg.scheduler": "Scheduler",
    "pg.loras": "Style LoRAs", "pg.lora": "LoRA", "pg.weight": "Weight", "pg.upload_lora": "Add a LoRA (.safetensors)",
    "pg.control": "Pose & ControlNet", "pg.kind": "ControlNet", "pg.scale": "Control strength",
    "pg.start": "Control from", "pg.end": "Control until", "pg.pose": "Pose",
    "pg.pose_img": "Pose — click a joint, then click where it goes", "pg.person": "Person",
    "pg.mirror": "Mirror", "pg.map_photo": "Photo for the map (pose / depth / edges)",
    "pg.detect": "Find the pose in the photo", "pg.map": "Control map", "pg.img2img": "Start from a photo (img2img)",
    "pg.init": "Photo", "pg.memory": "…or a photo from the memories", "pg.strength": "How much to change the photo",
    "pg.clear_init": "Don't use a photo", "pg.tone": "Tone", "pg.count": "Variants", "pg.generate": "Generate variants",
    "pg.variants": "Variants of this page", "pg.variant": "Variant", "pg.choose": "Use this picture",
    "pg.reproduce": "Make it again (same settings)", "pg.book": "The whole book", "pg.all": "Illustrate the whole book",
    "pg.cancel": "Stop", "pg.locked": "Keep this page as it is (skip in “whole book”)",
}
_KO = {
    "tab.pages": "그림", "pg.page": "쪽", "pg.style": "그림체", "pg.prompt": "프롬프트 (자유롭게 고치세요)",
    "pg.recompose": "그림체 + 인물 + 쪽 설명으로 다시 만들기", "pg.negative": "제외할 것 (네거티브 프롬프트)",
    "pg.seed": "시드", "pg.lock": "시드 고정", "pg.dice": "🎲 새 시드", "pg.steps": "단계 수", "pg.guidance": "가이던스",
    "pg.width": "너비", "pg.height": "높이", "pg.scheduler": "스케줄러", "pg.loras": "그림체 LoRA", "pg.lora": "LoRA",
    "pg.weight": "강도", "pg.upload_lora": "LoRA 추가 (.safetensors)", "pg.control": "자세와 ControlNet",
    "pg.kind": "ControlNet", "pg.scale": "제어 강도", "pg.start": "제어 시작", "pg.end": "제어 끝", "pg.pose": "자세",
    "pg.pose_img": "자세 — 관절을 누르고, 옮길 곳을 누르세요", "pg.person": "사람", "pg.mirror": "좌우 뒤집기",
    "pg.map_photo": "지도용 사진 (자세 / 깊이 / 윤곽)", "pg.detect": "사진에서 자세 찾기", "pg.map": "제어 지도",
    "pg.img2img": "사진에서 시작하기 (img2img)", "pg.init": "사진", "pg.memory": "…또는 기억 속 사진",
    "pg.strength": "사진을 바꾸는 정도", "pg.clear_init": "사진 쓰지 않기", "pg.tone": "색감", "pg.count": "만들 장 수",
    "pg.generate": "그림 만들기", "pg.variants": "이 쪽의 그림들", "pg.variant": "그림", "pg.choose": "이 그림으로 정하기",
    "pg.reproduce": "같은 설정으로 다시 만들기", "pg.book": "책 전체", "pg.all": "책 전체 그리기", "pg.cancel": "멈추기",
    "pg.locked": "이 쪽은 그대로 두기 (책 전체 그리기에서 건너뜀)",
}
STRINGS = {"en": _EN, "ko": _KO}
LORA_SLOTS = 3
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
            style = gr.Dropdown(label=t("pg.style"), choices=[("—", "")] + [(f"{s.name_ko} · {s.name_en}", k) for k, s in illustrate.styles().items()], value="")
            prompt = gr.Textbox(label=t("pg.prompt"), lines=3, max_length=2000)
            recompose = gr.Button(t("pg.recompose"), size="sm")
            negative = gr.Textbox(label=t("pg.negative"), lines=2, max_length=1000)
            with gr.Row():
                seed = gr.Number(label=t("pg.seed"), value=0, precision=0, minimum=0, maximum=2**31 - 1)
                seed_locked = gr.Checkbox(label=t("pg.lock"))
                dice = gr.Button(t("pg.dice"), size="sm")
            with gr.Row():
                steps = gr.Slider(1, 100, value=25, step=1, label=t("pg.steps"))
                guidance = gr.Slider(0, 20, value=7, step=0.5, label=t("pg.guidance"))
            with gr.Row():
                width = gr.Slider(64, illustrate.MAX_SIDE, value=512, step=8, label=t("pg.width"))
                height = gr.Slider(64, illustrate.MAX_SIDE, value=512, step=8, label=t("pg.height"))
            scheduler = gr.Dropdown(list(SCHEDULERS), value="default", label=t("pg.scheduler"))
            with gr.Accordion(t("pg.loras"), open=False):
                slots = []
                for _ in range(LORA_SLOTS):
                    with gr.Row():
                        slots += [gr.Dropdown(label=t("pg.lora"), choices=[("—", "")], value="", scale=2),
                                  gr.Slider(-1, 2, value=0.8, step=0.05, label=t("pg.weight"), scale=1)]
                lora_upload = gr.File(label=t("pg.upload_lora"), type="filepath", file_types=[".safetensors"], height=80)
            tone = gr.Radio(list(TONES), value="neutral", label=t("pg.tone"))
            with gr.Row():
                count = gr.Slider(1, illustrate.MAX_VARIANTS, value=3, step=1, label=t("pg.count"))
                generate = gr.Button(t("pg.generate"), variant="primary")
        with gr.Column(scale=2):
            gr.Markdown(f"### {t('pg.book')}")
            overview = gr.Gallery(show_label=False, columns=6, height=220, object_fit="contain", allow_preview=False)
            with gr.Row():
                whole = gr.Button(t("pg.all"), variant="primary")
                stop = gr.Button(t("pg.cancel"), variant="stop")
            progress_md = gr.Markdown()
            gallery = gr.Gallery(label=t("pg.variants"), columns=4, height=360, object_fit="contain", allow_preview=True)
            with gr.Row():
                variant = gr.Dropdown(label=t("pg.variant"), choices=[], value=None, scale=2)
                choose = gr.Button(t("pg.choose"), variant="primary")
                again = gr.Button(t("pg.reproduce"))
            with gr.Accordion(t("pg.control"), open=True):
                kind = gr.Radio(list(CONTROL_KINDS), value="none", label=t("pg.kind"))
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

    # -- UI <-> spec (the one place that knows the form's order) -----------------------------
    def form_values(book, pg):
        spec = pg.image
        composed, composed_neg = illustrate.compose_prompt(book, pg, spec.style)
        choices = [("—", "")] + [(lo.name or lo.ref[:12], lo.ref) for lo in page_inputs.book_loras(services, book)]
        lora_cells = []
        for i in range(LORA_SLOTS):
            lo = spec.loras[i] if i < len(spec.loras) else LoraChoice(ref="", weight=0.8)
            lora_cells += [gr.update(choices=choices, value=lo.ref), lo.weight]
        return [spec.prompt or composed, spec.negative_prompt or composed_neg, spec.seed, spec.seed_locked,
                spec.steps, spec.guidance, spec.width, spec.height, spec.scheduler, spec.style, *lora_cells,
                spec.control.kind, spec.control.scale, spec.control.start, spec.control.end, spec.strength, spec.tone]

    def spec_from_form(book, pg, values) -> ImageSpec:
        v = dict(zip(["prompt", "negative", "seed", "seed_locked", "steps", "guidance", "width", "height",
                      "scheduler", "style"], values[:10]))
        rest = values[10:]
        lora_cells, (kind_, scale_, start_, end_, strength_, tone_) = rest[:2 * LORA_SLOTS], rest[2 * LORA_SLOTS:]
        spec = ImageSpec.from_dict(pg.image.to_dict())
        composed, composed_neg = illustrate.compose_prompt(book, pg, v["style"] or "")
        # Unedited text follows the composition, so later story edits still reach the picture.
        spec.prompt = "" if (v["prompt"] or "").strip() == composed else (v["prompt"] or "").strip()
        spec.negative_prompt = "" if (v["negative"] or "").strip() == composed_neg else (v["negative"] or "").strip()
        spec.seed, spec.seed_locked = int(v["seed"] or 0), bool(v["seed_locked"])
        spec.steps, spec.guidance = int(v["steps"]), float(v["guidance"])
        spec.width, spec.height = int(v["width"]) // 8 * 8, int(v["height"]) // 8 * 8
        spec.scheduler, spec.style = v["scheduler"] or "default", v["style"] or ""
        names = {lo.ref: lo.name for lo in page_inputs.book_loras(services, book)}
        spec.loras = [LoraChoice(ref=r, weight=float(w), name=names.get(r, "")) for r, w in
                      zip(lora_cells[::2], lora_cells[1::2]) if r]
        spec.control.kind, spec.control.scale = kind_, float(scale_)
        spec.control.start, spec.control.end = float(start_), float(end_)
        spec.strength, spec.tone = float(strength_), tone_
        return spec

    def media_image(ref, owner):
        from PIL import Image

        media = services.store.media_for(owner)
        if not ref or not media.exists(ref):
            return None
        with Image.open(media.path(ref)) as img:
            return img.convert("RGB")

    def variants_view(pg, owner):
        gal = [(media_image(v.image, owner), f"{'★ ' if v.id == pg.chosen_variant else ''}#{i + 1} · seed {v.params.get('spec', {}).get('seed', '?')} · {v.backend}")
               for i, v in enumerate(pg.variants)]
        choices = [(f"#{i + 1} · seed {v.params.get('spec', {}).get('seed', '?')}", v.id) for i, v in enumerate(pg.variants)]
        return gal, gr.update(choices=choices, value=pg.chosen_variant)

    def overview_view(book):
        return [(media_image(p.chosen_image().image if p.chosen_image() else None, book.owner), f"{i + 1}") for i, p in enumerate(book.pages)
                if p.chosen_image()]

    def pose_view(pg, highlight=None):
        pose = page_inputs.current_pose(pg)
        w, h = pg.image.width, pg.image.height
        factor = 384 / max(w, h)
        img = poses.render(pose, max(64, int(w * factor)), max(64, int(h * factor)), highlight=highlight)
        return img, gr.update(choices=[(str(i + 1), i) for i in range(len(pose["people"]))], value=0)

    def load(owner, book_id, page_id):
        book = store.get(require_owner(owner), require_book(book_id))
        if not page_id:
            raise gr.Error("Choose a page first. / 먼저 쪽을 골라 주세요.")
        return book, book.page(page_id)

    # -- handlers --------------------------------------------------------------------------
    @user_errors
    def list_pages(owner, book_id, current):
        if not (owner and book_id):
            return gr.update(choices=[], value=None), [], illustrate.illustrator_status(services)[1]
        book = store.get(owner, book_id)
        choices = [(f"{i + 1}. {(p.text or p.illustration_prompt or '…')[:40]}", p.id) for i, p in enumerate(book.pages)]
        ids = [p.id for p in book.pages]
        value = current if current in ids else (ids[0] if ids else None)
        return gr.update(choices=choices, value=value), overview_view(book), illustrate.illustrator_status(services)[1]

    @user_errors
    def show_page(owner, book_id, page_id):
        if not (owner and book_id and page_id):  # no book or no pages yet: leave the form as it is
            return [gr.update()] * len(shown)
        book, pg = load(owner, book_id, page_id)
        memories = [(f"📷 {i + 1}", ref) for i, ref in enumerate(book.memories.photos)]
        return (f"**{book.pages.index(pg) + 1}.** {pg.text}", pg.locked, *form_values(book, pg),
                gr.update(choices=poses.bundled_choices(book.language), value=pg.image.control.pose_id or (
                    pg.pose_hint if pg.pose_hint in poses.bundled_names() else None)),
                *pose_view(pg), page_inputs.map_preview(services, pg, pg.image.control.kind, owner),
                gr.update(choices=memories, value=pg.image.init_image if pg.image.init_image in book.memories.photos else None),
                *variants_view(pg, owner), None)

    @user_errors
    def generate_variants(owner, book_id, page_id, n, oauth: gr.OAuthToken | None, *values, progress=gr.Progress()):
        book, pg = load(owner, book_id, page_id)
        spec = spec_from_form(book, pg, list(values))
        token = jobs.start(owner, "illustrate")
        try:
            made = illustrate.generate_variants(
                services, owner, book_id, page_id, spec, int(n), cancel=token,  # the visitor's own token pays
                backend=with_credentials(services.backends.active("illustrator"), visitor_credentials(oauth)),
                on_step=lambda i, total, s, ss: progress((i + s / max(1, ss)) / total, desc=f"{i + 1}/{total}"))
        finally:
            jobs.finish(owner, "illustrate", token)
        book, pg = load(owner, book_id, page_id)
        return (*variants_view(pg, owner), overview_view(book), f"✓ {len(made)} · seeds {', '.join(str(v.params['spec']['seed']) for v in made)}")

    @user_errors
    def choose_variant(owner, book_id, page_id, variant_id):
        if not variant_id:
            raise gr.Error("Pick a picture first. / 먼저 그림을 골라 주세요.")
        book = illustrate.choose_variant(services, require_owner(owner), require_book(book_id), page_id, variant_id)
        return (*variants_view(book.page(page_id), book.owner), overview_view(book))

    @user_errors
    def reproduce(owner, book_id, page_id, variant_id, oauth: gr.OAuthToken | None = None):
        if not variant_id:
            raise gr.Error("Pick a picture first. / 먼저 그림을 골라 주세요.")
        made, same = illustrate.reproduce(services, require_owner(owner), require_book(book_id), page_id, variant_id,
                                          credentials=visitor_credentials(oauth))
        _, pg = load(owner, book_id, page_id)
        return (*variants_view(pg, owner), "✓ identical" if same else "≠ different pixels (model or files changed)")

    @_streaming
    def illustrate_book(owner, book_id, oauth: gr.OAuthToken | None = None, progress=gr.Progress()):
        owner, book_id = require_owner(owner), require_book(book_id)
        token = jobs.start(owner, "illustrate")
        done_pages = 0
        try:
            backend = with_credentials(services.backends.active("illustrator"), visitor_credentials(oauth))
            for event in illustrate.illustrate_book(services, owner, book_id, backend=backend, cancel=token):
                progress((event.done + event.payload.get("step_fraction", 0)) / max(1, event.total), desc=event.message)
                if "variant" in event.payload:
                    done_pages = event.done
                    yield overview_view(store.get(owner, book_id)), f"{event.message} ({event.done}/{event.total})"
        finally:
            jobs.finish(owner, "illustrate", token)
        book = store.get(owner, book_id)
        left = len(illustrate.pages_to_illustrate(book, illustrate.illustrator_status(services)[0].name))
        yield overview_view(book), f"✓ {done_pages} pages illustrated" + (f", {left} left" if left else "")

    def variant_at(owner, book_id, page_id, evt: gr.SelectData):
        if not (owner and book_id and page_id):
            return gr.update()
        variants = store.get(owner, book_id).page(page_id).variants
        return variants[evt.index].id if 0 <= evt.index < len(variants) else gr.update()

    def cancel(owner):
        return "■ stopping after this step…" if owner and jobs.cancel(owner, "illustrate") else ""

    @user_errors
    def pick_style(owner, book_id, page_id, style_id, *values):
        book, pg = load(owner, book_id, page_id)
        spec = illustrate.apply_style(spec_from_form(book, pg, list(values)), style_id, services.settings.lora_dir)
        spec.prompt = spec.negative_prompt = ""  # recompose with the new style
        illustrate.save_spec(services, owner, book_id, page_id, spec)
        book, pg = load(owner, book_id, page_id)
        return form_values(book, pg)

    @user_errors
    def set_locked(owner, book_id, page_id, value):
        store.update(require_owner(owner), require_book(book_id), lambda b: setattr(b.page(page_id), "locked", bool(value)))

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
        import os

        page_inputs.add_user_lora(services, require_owner(owner), require_book(book_id), page_id, path, os.path.basename(path))
        book, pg = load(owner, book_id, page_id)
        return form_values(book, pg)

    @user_errors
    def set_photo(owner, book_id, page_id, path, purpose):
        if not path:
            return gr.update()
        pg = page_inputs.set_page_photo(services, require_owner(owner), require_book(book_id), page_id, path, purpose)
        return f"✓ {purpose}: {(pg.image.init_image if purpose == 'init' else pg.image.control.source_image)[:12]}"

    @user_errors
    def preview_map(owner, book_id, page_id, kind_):
        return page_inputs.map_preview(services, load(owner, book_id, page_id)[1], kind_, owner)

    @user_errors
    def detect_pose(owner, book_id, page_id):
        pg = page_inputs.detect_pose(services, require_owner(owner), require_book(book_id), page_id)
        return (*pose_view(pg), "openpose")

    @user_errors
    def use_memory(owner, book_id, page_id, ref):
        if ref:
            page_inputs.use_memory_photo(services, require_owner(owner), require_book(book_id), page_id, ref)

    @user_errors
    def no_photo(owner, book_id, page_id):
        page_inputs.set_page_photo(services, require_owner(owner), require_book(book_id), page_id, None, "init")
        return None, None

    # -- wiring ----------------------------------------------------------------------------
    state = [ctx.owner, ctx.book_id]
    gpu = dict(concurrency_id="gpu", concurrency_limit=1)
    shown = [page_text, locked, *form, pose_id, pose_img, person, map_view, memory, gallery, variant, selected]
    gr.on([tab.select, ctx.book_id.change], list_pages, [*state, page], [page, overview, status], api_name="list_pages")
    page.change(show_page, [*state, page], shown, api_name="show_page")
    generate.click(generate_variants, [*state, page, count, *form], [gallery, variant, overview, status],
                   api_name="generate_variants", **gpu)
    gallery.select(variant_at, [*state, page], variant, api_visibility="private")
    choose.click(choose_variant, [*state, page, variant], [gallery, variant, overview], api_name="choose_variant")
    again.click(reproduce, [*state, page, variant], [gallery, variant, status], api_name="reproduce", **gpu)
    whole.click(illustrate_book, state, [overview, progress_md], api_name="illustrate_book", **gpu)
    stop.click(cancel, [ctx.owner], progress_md, api_name="cancel_illustration")
    style.input(pick_style, [*state, page, style, *form], form, api_name="pick_style")
    recompose.click(lambda: ("", ""), None, [prompt, negative], api_visibility="private").then(
        lambda o, b, p, s, *v: pick_style(o, b, p, s, *v), [*state, page, style, *form], form, api_visibility="private")
    dice.click(lambda: (secrets.randbelow(2**31), False), None, [seed, seed_locked], api_visibility="private")
    locked.input(set_locked, [*state, page, locked], None, api_name="lock_page")
    pose_id.input(choose_pose, [*state, page, pose_id], [pose_img, person, kind], api_name="choose_pose")
    pose_img.select(pose_click, [*state, page, selected], [pose_img, selected], api_visibility="private")
    for op, button in moves.items():
        button.click(person_edit(op), [*state, page, person], pose_img, api_visibility="private")
    mirror.click(person_edit("mirror"), [*state, page, person], pose_img, api_name="mirror_person")
    lora_upload.upload(upload_lora, [*state, page, lora_upload], form, api_name="upload_lora")
    kind.input(preview_map, [*state, page, kind], map_view, api_name="preview_map")
    map_photo.upload(lambda o, b, p, f: set_photo(o, b, p, f, "control"), [*state, page, map_photo], status,
                     api_name="set_map_photo").then(preview_map, [*state, page, kind], map_view, api_visibility="private")
    init_photo.upload(lambda o, b, p, f: set_photo(o, b, p, f, "init"), [*state, page, init_photo], status,
                      api_name="set_init_photo")
    detect.click(detect_pose, [*state, page], [pose_img, person, kind], api_name="detect_pose", **gpu)
    memory.input(use_memory, [*state, page, memory], None, api_visibility="private")
    clear_init.click(no_photo, [*state, page], [init_photo, memory], api_visibility="private")


def _streaming(fn):
    """``user_errors`` for generator handlers (a plain wrapper would not see errors raised while
    the generator runs, and Gradio would not stream it)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except Exception as exc:  # mapped exactly as user_errors maps it
            user_errors(_reraise)(exc)

    return wrapper


def _reraise(exc: BaseException):
    raise exc
