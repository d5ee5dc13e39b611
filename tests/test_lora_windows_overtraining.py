"""LoRA training on the tiny SD model in GPU-turn-sized windows (as on ZeroGPU: each window a call
whose job and events cross a process boundary), ending exactly where one straight run ends; and the
overtraining watch without prior preservation: a warning in the estimate before a long training,
and during training when the loss on photos set aside rises check after check."""
from __future__ import annotations

import math
import pickle

import pytest
import torch
from safetensors.torch import load_file

from studio import likeness, lora_windows
from studio.book import Character
from studio.config import Settings
from studio.job_runner import rising
from studio.photos import PrepOptions
from studio.services import build_services
from studio.train_lora import LoraOptions, LoraTrainer, TrainingSet
from studio.zerogpu import GpuClock
from likeness_fixtures import CONSENT, one_thread  # noqa: F401  (autouse)
from test_photos_prep import drawn_face
from test_train_lora import faces
from tiny_sd import tiny_models  # noqa: F401  (session fixture)


def make_services(tiny_models, root, **settings):  # noqa: F811
    services = build_services(Settings(data_dir=root, sd_model=str(tiny_models.sd), device="cpu", **settings))
    book = services.store.create("local", "Grandma", page_count=4)
    book = services.store.update("local", book.id, lambda b: b.characters.append(Character(name="Grandma")))
    return services, book


def prepared(services, book, tmp_path):
    files = []
    for i, centre in enumerate([(160, 150), (120, 130), (170, 120)]):
        path = tmp_path / f"p{i}.jpg"
        drawn_face((300, 300), centre=centre, r=60, seed=i).save(path, quality=92)
        files.append((path.name, path))
    options = PrepOptions(resolution=64, min_side=128, token="ohwx", class_word="grandmother")
    results = likeness.prepare_for_character(services, "local", book.id, book.characters[0].id, files, options)
    assert all(r.kept for r in results)


def person_job(book, steps=5) -> lora_windows.LoraJob:
    options = LoraOptions(rank=4, learning_rate=5e-3, steps=steps, batch_size=2, resolution=64, save_every=100,
                          gradient_checkpointing=False)
    request = likeness.LikenessRequest(character_id=book.characters[0].id, trigger="ohwx", options=options,
                                       consent=CONSENT)
    return lora_windows.LoraJob("local", book.id, request, "person")


class FakeTurns:
    """Stands in for ``zerogpu.GpuFunction`` on a Space: a clock whose turn fits two steps, and
    every call's job and events pickled both ways, as ZeroGPU's forked worker does."""

    def __init__(self, services):
        self.services, self.units = services, []
        self.clock = GpuClock(seconds_per_unit=26.4, overhead_s=10, min_s=15, max_s=120)  # 2 steps a turn

    def __call__(self, job, max_steps, local=None):
        self.units.append(lora_windows.window_units(job, max_steps))
        events = lora_windows.run_window(self.services, pickle.loads(pickle.dumps(job)), max_steps)
        return pickle.loads(pickle.dumps(events))


def lora_tensors(services, book):
    grandma = services.store.get("local", book.id).characters[0]
    return load_file(str(services.store.media_for("local").path(grandma.lora)))


def test_windows_on_a_space_end_where_one_straight_run_ends(tiny_models, tmp_path):  # noqa: F811
    straight, book_a = make_services(tiny_models, tmp_path / "a")
    prepared(straight, book_a, tmp_path)
    events = list(lora_windows.train(straight, person_job(book_a)))
    assert not any(e.payload["event"] == "window" for e in events) and events[-1].payload["event"] == "attached"

    windowed, book_b = make_services(tiny_models, tmp_path / "b")
    prepared(windowed, book_b, tmp_path)
    turns = FakeTurns(windowed)
    events = list(lora_windows.train(windowed, person_job(book_b), gpu_window=turns))
    kinds = [e.payload["event"] for e in events]
    assert turns.units == [2.0, 2.0, 2.0] and kinds.count("window") == 2 and kinds.count("setup") == 1
    assert "paused" not in kinds and [e.payload["step"] for e in events if e.payload["event"] == "step"] == [1, 2, 3, 4, 5]
    assert events[kinds.index("window")].text("en").startswith("This GPU turn has ended at step 2")
    assert kinds[-1] == "attached"
    a, b = lora_tensors(straight, book_a), lora_tensors(windowed, book_b)
    assert a.keys() == b.keys()
    for key in a:  # the checkpoint carried everything: the same LoRA as without windows
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    straight.close()
    windowed.close()


def test_the_window_setting_chunks_a_run_here_and_cancel_waits_for_a_window_end(tiny_models, tmp_path):  # noqa: F811
    from studio.backends.base import Cancelled, CancelToken

    services, book = make_services(tiny_models, tmp_path / "c", train_window_steps=2)
    prepared(services, book, tmp_path)
    assert lora_windows.window_steps_for(services) == 2 and lora_windows.gpu_window_for(services) is None
    token = CancelToken()
    seen = []
    with pytest.raises(Cancelled):
        for event in lora_windows.train(services, person_job(book, steps=6), token):
            seen.append(event.payload["event"])
            if event.payload["event"] == "window":
                token.cancel()
    assert seen.count("window") == 1 and seen.count("step") == 2  # the next window never started
    events = list(lora_windows.train(services, person_job(book, steps=6)))  # later: carries on from step 2
    assert [e.payload["step"] for e in events if e.payload["event"] == "step"] == [3, 4, 5, 6]
    assert [e.payload["event"] for e in events].count("window") == 1 and events[-1].payload["event"] == "attached"
    services.close()


# -- overtraining without prior preservation --------------------------------------------------------
def test_the_rule_on_synthetic_held_out_losses():
    falling = [0.30, 0.25, 0.22, 0.20, 0.19]
    noisy = [0.30, 0.25, 0.27, 0.24, 0.26, 0.23]  # ups and downs are not overtraining
    turning = [0.30, 0.25, 0.22, 0.23, 0.25, 0.28]  # three checks in a row each higher
    assert not rising(falling, 3) and not rising(noisy, 3) and rising(turning, 3)
    assert not rising(turning[:-1], 3)


def test_the_estimate_warns_before_a_long_person_training_without_prior_preservation(tiny_models, tmp_path):  # noqa: F811
    services, _ = make_services(tiny_models, tmp_path / "d")
    calm = likeness.preset_options("balanced", 12, 512)
    assert not likeness.overtraining_risk(calm, 12)
    long = likeness.preset_options("balanced", 12, 512, steps=3000)  # 250 passes over each photo
    hot = likeness.preset_options("fast", 12, 512, steps=1200, learning_rate=5e-4)  # 100 passes, a high rate
    assert likeness.overtraining_risk(long, 12) and likeness.overtraining_risk(hot, 12)
    assert not likeness.overtraining_risk(long, 12, subject="style")
    guarded = likeness.preset_options("balanced", 12, 512, steps=3000, prior_preservation=True)
    assert not likeness.overtraining_risk(guarded, 12)
    said = likeness.estimate_text(services, long, "en", 12)
    assert "about 250 passes over each photo" in said and "overtraining" in said
    assert "과학습" in likeness.estimate_text(services, long, "ko", 12)
    assert "overtraining" not in likeness.estimate_text(services, calm, "en", 12)
    assert calm.holdout == 1 and calm.eval_every == calm.steps // 20  # the watch during training
    services.close()


def tiny_pipe(tiny_models):  # noqa: F811
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_models.sd, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def held_out_options(**kw) -> LoraOptions:
    base = dict(rank=4, learning_rate=5e-3, steps=5, batch_size=1, resolution=64, save_every=100,
                gradient_checkpointing=False, holdout=1, eval_every=1, overtrain_patience=3)
    base.update(kw)
    return LoraOptions(**base)


def test_a_photo_is_set_aside_and_its_rising_loss_warns_once(tiny_models, tmp_path):  # noqa: F811
    data = TrainingSet(faces(4), ["a photo of sks grandmother"] * 4, trigger="sks")
    trainer = LoraTrainer(tiny_pipe(tiny_models), data, held_out_options(), tmp_path / "real", consent=CONSENT)
    assert trainer.trained == 3 and int(trainer.order.max()) < 3  # the last photo is never trained on
    events = list(trainer.run())
    checks = [e.payload["value"] for e in events if e.payload["event"] == "eval"]
    assert len(checks) == 5 and all(math.isfinite(v) for v in checks)
    assert events[[e.payload["event"] for e in events].index("eval")].text("en").startswith(
        "Check on the photos set aside: ")
    assert trainer.metadata()["dataset_size"] == 3

    series = iter([0.30, 0.25, 0.26, 0.27, 0.28, 0.29])  # rising from the third check on
    watched = LoraTrainer(tiny_pipe(tiny_models), data, held_out_options(steps=6), tmp_path / "synthetic",
                          consent=CONSENT)
    watched.held_out_check = lambda: next(series)
    events = list(watched.run())
    warnings = [e for e in events if e.payload["event"] == "overtraining"]
    assert len(warnings) == 1 and warnings[0].payload["step"] == 5  # said once, when 3 rises are seen
    assert "copy its photos" in warnings[0].text("en")


def test_few_photos_or_prior_preservation_keep_every_photo_in_training(tiny_models, tmp_path):  # noqa: F811
    two = TrainingSet(faces(2), ["a photo of sks grandmother"] * 2, trigger="sks")
    trainer = LoraTrainer(tiny_pipe(tiny_models), two, held_out_options(steps=1), tmp_path / "two", consent=CONSENT)
    assert trainer.trained == 2 and trainer._held is None  # two photos: none can be spared
    assert likeness.preset_options("fast", 4, 512).holdout == 0
