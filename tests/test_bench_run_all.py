"""bench/run_all: collects each script's trailing ``name: value`` lines and fails loudly."""
from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

RUN_ALL = Path(__file__).resolve().parents[1] / "bench" / "run_all"


@pytest.fixture(scope="module")
def run_all():
    loader = importlib.machinery.SourceFileLoader("bench_run_all", str(RUN_ALL))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_only_the_trailing_block_of_name_value_lines_counts(run_all):
    stdout = ("kill -9: 3/3 survived\nsaves: stock 1 ms\ntable row   1.2\n"
              "save_ratio: 3.16\nrss_growth_mb: 1.2 (bound 60)\npdf+epub_s: 1.25\n\n")
    assert run_all.key_figures(stdout) == [("save_ratio", "3.16"), ("rss_growth_mb", "1.2 (bound 60)"),
                                           ("pdf+epub_s", "1.25")]
    assert run_all.key_figures("a table\nlast line without a figure\n") == []


def _script(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text("import sys\n" + body)


def test_figures_of_every_script_are_repeated_last_with_the_script_name(run_all, tmp_path, capsys):
    _script(tmp_path, "bench_fast.py", "print('warming up')\nprint('ratio: 1.25')\nprint('pages_s: 3.0')\n")
    _script(tmp_path, "other.py", "print('seconds: 7')\n")
    _script(tmp_path, "_helper.py", "raise SystemExit('helpers are not benches')\n")
    assert run_all.main(["--dir", str(tmp_path)]) == 0
    summary = capsys.readouterr().out.split("== key figures")[1].splitlines()
    assert summary[1:4] == ["fast.ratio: 1.25", "fast.pages_s: 3.0", "other.seconds: 7"]
    assert summary[-1].startswith("run_all_seconds: ")


def test_a_failing_silent_or_slow_script_fails_the_run_and_is_named(run_all, tmp_path, capsys):
    _script(tmp_path, "bench_broken.py", "print('ratio: 1.0')\nsys.exit('bench_broken: the store lost a book')\n")
    _script(tmp_path, "bench_silent.py", "print('no figures here')\n")
    _script(tmp_path, "bench_slow.py", "import time\ntime.sleep(30)\nprint('ratio: 1')\n")
    _script(tmp_path, "bench_good.py", "print('ratio: 2.0')\n")
    assert run_all.main(["--dir", str(tmp_path), "--timeout", "3"]) == 1
    out = capsys.readouterr()
    assert "the store lost a book" in out.out  # the script's own error is shown
    summary = out.out.split("== key figures")[1]
    assert "bench_broken: failed with exit code 1" in summary
    assert "bench_silent: printed no key figures" in summary
    assert "bench_slow: ran past its 3 s limit" in summary
    assert "good.ratio: 2.0" in summary
    assert "FAILED" in out.err and "bench_slow" in out.err


def test_only_runs_the_named_scripts(run_all, tmp_path, capsys):
    _script(tmp_path, "bench_a.py", "print('x: 1')\n")
    _script(tmp_path, "bench_b.py", "sys.exit(2)\n")
    assert run_all.main(["--dir", str(tmp_path), "--only", "bench_a"]) == 0
    assert "bench_b" not in capsys.readouterr().out
