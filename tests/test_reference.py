"""The generated settings and command-line references: equal to what the code
generates, and no setting, command or option without words for the reader."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from pydantic.fields import FieldInfo

from warming_tasks.cli import reference
from warming_tasks.cli.commands import cli
from warming_tasks.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_references_are_what_the_code_generates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = reference.main(["--check", "--root", str(ROOT)])
    assert code == 0, capsys.readouterr().out


def test_check_names_a_page_that_drifted_and_how_to_regenerate_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main(["--root", str(tmp_path)]) == 0
    settings_page = tmp_path / "docs" / "reference" / "settings.md"
    settings_page.write_text(settings_page.read_text().replace("`WARMING_QUEUE`", "`QUEUE`"))
    assert reference.main(["--check", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{settings_page} differs from the code: run python -m warming_tasks.cli.reference"
    )


def test_every_setting_and_every_option_is_in_its_reference() -> None:
    settings_page = reference.settings_markdown()
    for name, field in Settings.model_fields.items():
        assert f"| `WARMING_{name.upper()}` |" in settings_page
        assert field.description
        assert " ".join(field.description.split()) in settings_page
    cli_page = reference.cli_markdown()
    root = click.Context(cli, info_name="warming-tasks")
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        assert command is not None
        assert f"## {name}\n" in cli_page
        for param in command.params:
            if isinstance(param, click.Option):
                assert all(opt in cli_page for opt in param.opts), (name, param.opts)


def test_a_setting_without_a_description_fails_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fields = dict(Settings.model_fields)
    fields["new_knob"] = FieldInfo(default=1)
    monkeypatch.setattr(Settings, "model_fields", fields)
    with pytest.raises(ValueError, match="the setting new_knob has no description"):
        reference.settings_markdown()


def test_an_option_or_command_without_help_fails_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @click.command(help="Does a thing.")
    @click.option("--fast", is_flag=True)
    def thing(fast: bool) -> None:
        """Never run."""

    monkeypatch.setitem(cli.commands, "thing", thing)
    with pytest.raises(ValueError, match="the option --fast of warming-tasks thing has no help"):
        reference.cli_markdown()

    @click.command()
    def bare() -> None:
        pass

    monkeypatch.delitem(cli.commands, "thing")
    monkeypatch.setitem(cli.commands, "bare", bare)
    with pytest.raises(ValueError, match="the command bare has no help"):
        reference.cli_markdown()
