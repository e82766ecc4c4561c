"""A broken config is one clear line naming the file and key, exit code 2."""

from pathlib import Path

import pytest

from reportgen.config import Profile, load_config
from reportgen.errors import ReportgenError
from reportgen.registry import load_experiments, parse_tasks
from tests.conftest import invoke


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.profile is Profile.standard and config.dataset == "fashion-mnist"


@pytest.mark.parametrize("text,message", [
    ('titel = "x"', "unknown key 'titel'"),
    ("seed = 'zero'", "key 'seed'"),
    ('profile = "huge"', "key 'profile'"),
    ("title = ", "not valid TOML"),
])
def test_bad_config_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "reportgen.toml"
    path.write_text(text)
    with pytest.raises(ReportgenError, match=message) as info:
        load_config(path)
    assert str(path) in info.value.message and info.value.exit_code == 2


def test_cli_reports_bad_config_in_one_line(project: Path):
    (project / "reportgen.toml").write_text("[experiments.arch-baseline]\nepochz = 3\n")
    result = invoke("build", "--task", "1")
    assert result.exit_code == 2
    assert "unknown parameter 'epochz'" in result.output and "Traceback" not in result.output
    assert not (project / "output" / "deck.pdf").exists()


def test_override_types_are_checked():
    exp = load_experiments()["arch-baseline"]
    assert exp.resolve("quick", {"lr": 1})["lr"] == 1.0  # an int where a float is expected is fine
    with pytest.raises(ReportgenError, match="epochs: expected a whole number"):
        exp.resolve("quick", {"epochs": "two"})


def test_profiles_pick_their_values():
    exp = load_experiments()["arch-baseline"]
    quick, standard = exp.resolve("quick"), exp.resolve("standard")
    assert quick["train_size"] < standard["train_size"] and quick["epochs"] <= standard["epochs"]


def test_task_names_and_numbers():
    assert parse_tasks("all") == [1, 2, 3, 4, 5]
    assert parse_tasks("architecture,1") == [1]
    with pytest.raises(ReportgenError, match="unknown task 'nine'"):
        parse_tasks("nine")


def test_unknown_task_is_exit_2(project):
    result = invoke("build", "--task", "nine")
    assert result.exit_code == 2 and "unknown task 'nine'" in result.output


def test_missing_dataset_without_fallback_says_how_to_install(project, tmp_path):
    (project / "reportgen.toml").write_text(f'dataset = "fashion-mnist"\nfallback = "none"\ndata_root = "{tmp_path / "nothing"}"\n')
    import reportgen.data.sources as sources

    original = sources.DEBIAN_FASHION
    sources.DEBIAN_FASHION = tmp_path / "not-installed"
    try:
        result = invoke("build", "--task", "1")
    finally:
        sources.DEBIAN_FASHION = original
    assert result.exit_code == 2
    assert "not found" in result.output and "apt-get install dataset-fashion-mnist" in result.output


def test_missing_dataset_falls_back_to_digits_with_notice(tmp_path, monkeypatch):
    import reportgen.data.sources as sources

    monkeypatch.setattr(sources, "DEBIAN_FASHION", tmp_path / "not-installed")
    info = sources.resolve_dataset("fashion-mnist", None, "digits")
    assert info.name == "digits" and "apt-get install dataset-fashion-mnist" in info.notice


def test_unwritable_output_is_a_clear_error(project):
    (project / "blocker").write_text("a file, not a folder")
    result = invoke("build", "--task", "1", "--out", "blocker/out")
    assert result.exit_code == 2 and "not writable" in result.output
    assert not (project / ".reportgen").exists()  # failed before any training
