"""Forgetting a voice or a family takes her training (checkpoint, samples) with it."""
from __future__ import annotations

from studio.narrate import create_voice, delete_voice
from studio.train_voice.flow import voice_dir


def _training_left_by(services, owner, book_id, name):
    voice = create_voice(services, owner, book_id, name)
    folder = voice_dir(services.settings, owner, voice.id)
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"her voice, being learned")
    return voice, folder


def test_deleting_a_voice_deletes_its_training(services):
    book = services.store.create("local", "Grandma", "", "ko", 4)
    voice, folder = _training_left_by(services, "local", book.id, "할머니")
    delete_voice(services, "local", book.id, voice.id)
    assert not folder.exists()


def test_forgetting_a_family_deletes_its_training(services):
    book = services.store.create("anon:visitor", "Grandpa", "", "en", 4)
    _, folder = _training_left_by(services, "anon:visitor", book.id, "Grandpa")
    assert services.store.delete_owner("anon:visitor")
    assert not folder.exists() and not any(folder.parents[1].glob("*"))
