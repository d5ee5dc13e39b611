"""Settings come from env/TOML; the registry picks backends lazily and says why one is not used."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from studio.backends.base import Availability, BackendError
from studio.backends.registry import Backends
from studio.config import Settings


def test_settings_from_env_and_toml(tmp_path):
    toml = tmp_path / "gieok.toml"
    toml.write_text('sd_model = "/models/sd15"\nport = 9000\nllm_timeout_s = 12.5\n')
    s = Settings.from_env({"GIEOK_CONFIG": str(toml), "GIEOK_PORT": "7861", "GIEOK_DATA_DIR": str(tmp_path / "d")})
    assert s.sd_model == "/models/sd15" and s.port == 7861 and s.llm_timeout_s == 12.5
    assert s.data_dir == tmp_path / "d" and isinstance(s.data_dir, Path)
    assert Settings.from_env({"SPACE_ID": "fam/gieok"}).mode == "public"


def test_unknown_setting_is_a_clear_error(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text('sd_modle = "typo"\n')
    with pytest.raises(ValueError, match="Unknown setting 'sd_modle'"):
        Settings.from_env({"GIEOK_CONFIG": str(toml)})


def test_default_data_dir_is_outside_the_checkout():
    here = Path(__file__).resolve().parents[1]
    data = Settings().data_dir.resolve()
    assert here not in data.parents and data != here


class _Fake:
    def __init__(self, settings, ok=True, reason="ready"):
        self.settings, self._ok, self._reason = settings, ok, reason

    def available(self):
        return Availability(self._ok, self._reason)


class RealButMissing(_Fake):
    name, label = "real", "Real model"

    def __init__(self, settings):
        super().__init__(settings, ok=False, reason="GIEOK_SD_MODEL is not set")


class Offline(_Fake):
    name, label = "offline", "Offline"


class Broken:
    def __init__(self, settings):
        raise RuntimeError("cannot construct")


@pytest.fixture
def fake_module(monkeypatch):
    mod = types.ModuleType("fake_backends")
    mod.RealButMissing, mod.Offline, mod.Broken = RealButMissing, Offline, Broken
    monkeypatch.setitem(sys.modules, "fake_backends", mod)
    return {"illustrator": {"broken": "fake_backends:Broken", "real": "fake_backends:RealButMissing",
                            "offline": "fake_backends:Offline"}}


def test_auto_picks_first_available_and_reports_why_others_are_not(fake_module):
    backends = Backends(Settings(), kinds=fake_module)
    assert backends.active("illustrator").name == "offline"
    rows = {r.name: r for r in backends.statuses()}
    assert rows["real"].availability.reason == "GIEOK_SD_MODEL is not set" and not rows["real"].active
    assert rows["offline"].active
    assert "could not load" in rows["broken"].availability.reason


def test_explicit_choice_of_unavailable_backend_says_why(fake_module):
    backends = Backends(Settings(illustrator="real"), kinds=fake_module)
    with pytest.raises(BackendError, match="Real model is not available: GIEOK_SD_MODEL is not set"):
        backends.active("illustrator")
    with pytest.raises(BackendError, match="no Illustrator called “nope”"):
        backends.get("illustrator", "nope")


def test_instances_are_created_once(fake_module):
    backends = Backends(Settings(), kinds=fake_module)
    assert backends.get("illustrator", "offline") is backends.get("illustrator", "offline")
