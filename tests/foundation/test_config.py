"""newsletter.toml → Settings: each bad field is one line naming file, table and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.errors import ConfigError
from tests.conftest import SETTINGS_TEMPLATE

GOOD = SETTINGS_TEMPLATE.format(database_url="sqlite:///newsletter.db")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path.resolve()) + ": ")
    assert caught.value.exit_code == 2
    return message


def test_good_settings_load(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.organisation.name == "BusinessBallerup"
    assert settings.sender.email == "nyhedsbrev@example.org"
    assert settings.base_url == "https://nyhedsbrev.example.org"
    assert settings.provider.name == "outbox"
    assert settings.url("/u/abc") == "https://nyhedsbrev.example.org/u/abc"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'email = "nyhedsbrev@example.org"',
            'email = "not-an-address"',
            "[sender] email: 'not-an-address' is not a valid email address",
        ),
        (
            'base_url = "https://nyhedsbrev.example.org"',
            'base_url = "nyhedsbrev.example.org"',
            "[site] base_url: 'nyhedsbrev.example.org' is not an absolute http(s) URL",
        ),
        ('language = "da"', 'language = "de"', "[defaults] language: 'de' is not one of: da, en"),
        (
            'name = "outbox"',
            'name = "mailchimp"',
            "[provider] name: 'mailchimp' is not one of: brevo, mailgun, outbox, postmark",
        ),
        (
            'outbox_dir = "outbox"',
            'outbox_dir = "outbox"\nbatch_size = 0',
            "[provider] batch_size: 0 is out of range — use 1 to 100",
        ),
        (
            'outbox_dir = "outbox"',
            'outbox_dir = "outbox"\nbatch_size = "ten"',
            "[provider] batch_size: must be a whole number, not 'ten'",
        ),
        (
            'outbox_dir = "outbox"',
            'outbox_dir = "outbox"\ntimeout_seconds = 0',
            "[provider] timeout_seconds: 0 is too small",
        ),
        ('name = "Jens Hansen"', "name = 7", "[sample] name: must be a text string in quotes, not 7"),
    ],
)
def test_each_bad_field_is_one_line_naming_table_and_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    message = error_for(tmp_path, GOOD.replace(old, new, 1))
    assert expected in message


def test_missing_required_field_says_how_to_add_it(tmp_path: Path) -> None:
    message = error_for(
        tmp_path, GOOD.replace('address = "Ballerup Kommune, Hold-An Vej 7, 2750 Ballerup"\n', "")
    )
    assert message.endswith('[organisation] address: is required — add address = "…" under [organisation]')


def test_several_bad_fields_are_listed_together(tmp_path: Path) -> None:
    text = GOOD.replace('language = "da"', 'language = "de"').replace(
        'base_url = "https://nyhedsbrev.example.org"', 'base_url = "ftp://x"'
    )
    message = error_for(tmp_path, text)
    assert ": 2 problems: " in message
    assert "[site] base_url:" in message and "[defaults] language:" in message


def test_a_table_that_is_not_a_table(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'sample = "x"\n' + GOOD.replace("[sample]\n", "[sample_old]\n"))
    assert "[sample] must be a table" in message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    assert "invalid TOML" in error_for(tmp_path, GOOD + "\nthis is = = wrong\n")
    with pytest.raises(ConfigError, match=r"settings file not found — create it"):
        load_settings(tmp_path / "absent.toml")


def test_non_utf8_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "newsletter.toml"
    path.write_bytes(GOOD.replace("Ballerup Kommune", "Ballerup Kommune ø").encode("cp1252"))
    with pytest.raises(ConfigError, match="not UTF-8 text — save the file as UTF-8"):
        load_settings(path)


def test_relative_paths_resolve_against_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    path = write(project, GOOD + '\n[paths]\nissues = "content/issues"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(path)
    assert settings.issues_dir == project.resolve() / "content" / "issues"
    assert settings.templates_dir == project.resolve() / "templates"
    assert settings.provider.options.outbox_dir == project.resolve() / "outbox"
    assert settings.database_url == f"sqlite:///{project.resolve() / 'newsletter.db'}"


def test_database_url_from_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/other")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/other"


def test_config_found_through_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(path))
    monkeypatch.chdir(tmp_path.parent)
    assert load_settings().path == path.resolve()


def test_mailgun_needs_its_domain(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace('name = "outbox"', 'name = "mailgun"'))
    assert "[provider] mailgun_domain: is required" in message


def test_blank_required_field_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace('name = "BusinessBallerup"', 'name = "   "', 1))
    assert "[organisation] name: is required" in message


def test_a_table_that_is_not_a_table_is_reported_once(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'sample = "x"\n' + GOOD.replace("[sample]\n", "[sample_old]\n"))
    assert message.count("[sample] must be a table") == 1


def test_a_misspelt_field_is_an_error_with_the_name_it_meant(tmp_path: Path) -> None:
    text = SETTINGS_TEMPLATE.format(database_url="sqlite://").replace(
        'name = "outbox"', 'name = "outbox"\nbach_size = 100'
    )
    assert error_for(tmp_path, text).endswith(
        "[provider] bach_size: is not a setting of [provider] — did you mean batch_size?"
    )


def test_an_unknown_field_lists_the_table_s_fields(tmp_path: Path) -> None:
    text = SETTINGS_TEMPLATE.format(database_url="sqlite://").replace(
        'name = "Jens Hansen"', 'name = "Jens Hansen"\nfoo = 1'
    )
    assert error_for(tmp_path, text).endswith(
        "[sample] foo: is not a setting of [sample] — remove it, or use one of: email, name"
    )


def test_an_unknown_table_and_a_field_outside_any_table(tmp_path: Path) -> None:
    text = (
        "batch_size = 100\n" + SETTINGS_TEMPLATE.format(database_url="sqlite://") + '\n[sendr]\nname = "x"\n'
    )
    message = error_for(tmp_path, text)
    assert "2 problems" in message
    assert "[sendr]: is not a settings table — did you mean [sender]?" in message
    assert "batch_size: is outside any table — put it under the table it belongs to" in message


def test_another_provider_s_fields_may_stay_in_the_file(tmp_path: Path) -> None:
    """Switching from Mailgun to the outbox must not make the old mailgun_domain an error."""
    text = SETTINGS_TEMPLATE.format(database_url="sqlite://").replace(
        'name = "outbox"', 'name = "outbox"\nmailgun_domain = "mg.example.dk"\nses_region = "eu-west-1"'
    )
    assert load_settings(write(tmp_path, text)).provider.name == "outbox"
