from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from example_project.env import database_from_url, env_flag, env_list

BASE = Path("/srv/site")


def test_postgres_url_with_quoted_credentials_and_options():
    db = database_from_url(
        "postgres://spot%40ify:p%3Ass@db.internal:6543/music?sslmode=require", BASE
    )
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"]) == ("spot@ify", "p:ss")
    assert (db["HOST"], db["PORT"], db["NAME"]) == ("db.internal", "6543", "music")
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_postgresql_scheme_without_port():
    db = database_from_url("postgresql://localhost/music", BASE)
    assert (db["HOST"], db["PORT"], db["USER"]) == ("localhost", "", "")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:///example.sqlite3", "/srv/site/example.sqlite3"),
        ("sqlite:////var/lib/music.sqlite3", "/var/lib/music.sqlite3"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_sqlite_urls(url, name):
    assert database_from_url(url, BASE) == {"ENGINE": "django.db.backends.sqlite3", "NAME": name}


def test_unknown_scheme_names_the_setting():
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL.*mysql"):
        database_from_url("mysql://localhost/music", BASE)


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("FLAG", " Yes ")
    monkeypatch.setenv("ITEMS", "a, b,,c ")
    assert env_flag("FLAG", "0")
    assert not env_flag("MISSING_FLAG", "0")
    assert env_list("ITEMS") == ["a", "b", "c"]
    assert env_list("MISSING_ITEMS") == []
