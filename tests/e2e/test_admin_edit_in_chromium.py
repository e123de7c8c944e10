"""An editor renames a track in the admin; the next view of a listener's page shows it.

The whole chain as a person drives it, in a real headless Chromium against a
real server process: log into the admin, view a listener's page twice (the
second view is served from the cache), rename their favourite track in the
admin, view the page again.  Only the model binding can refresh the page: the
top tracks are cached for an hour, and the edit is made through the admin
form, not by the test.  Run on the memory store and on Redis (with the
listeners' near-cache).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import Browser, Page
from .conftest import demo_site, require_chromium

PASSWORD = "e2e-admin-password-8d1c"  # a throwaway superuser of a throwaway site
NEW_TITLE = "Renamed In The Admin"
TOP_TRACKS = "section:first-of-type"  # the listener page's first section: their top tracks


@pytest.fixture(scope="module", params=["memory", "redis"])
def admin_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(URL, database) of a seeded demo site with the superuser ``admin``."""
    require_chromium()
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    directory = tmp_path_factory.mktemp(f"admin-{request.param}")
    with demo_site(directory, redis_url, DJANGO_SUPERUSER_PASSWORD=PASSWORD) as url:
        yield url, directory / "db.sqlite3"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with Browser(require_chromium(), tmp_path / "profile") as running:
        yield running


def favourite_track(database: Path) -> tuple[int, int, str]:
    """(listener id, track id, title): the busiest listener's most played track,
    ranked as ``services.top_tracks`` ranks it."""
    with sqlite3.connect(database) as db:
        (listener_id,) = db.execute(
            "SELECT listener_id FROM music_listeningevent GROUP BY listener_id "
            "ORDER BY COUNT(*) DESC, listener_id LIMIT 1"
        ).fetchone()
        track_id, title = db.execute(
            "SELECT e.track_id, t.title FROM music_listeningevent e "
            "JOIN music_track t ON t.id = e.track_id WHERE e.listener_id = ? "
            "GROUP BY e.track_id ORDER BY COUNT(*) DESC, SUM(e.ms_played) DESC, e.track_id "
            "LIMIT 1",
            [listener_id],
        ).fetchone()
    return listener_id, track_id, title


def log_in(page: Page, site: str) -> None:
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    assert "Site administration" in page.click("input[type=submit]")


def top_tracks(page: Page) -> tuple[str, str]:
    """(badge, text) of the top tracks section of the listener page on screen."""
    return page.text(f"{TOP_TRACKS} h2 .cache"), page.text(TOP_TRACKS)


def test_a_track_renamed_in_the_admin_shows_on_the_next_view(
    admin_site: tuple[str, Path], browser: Browser
) -> None:
    site, database = admin_site
    listener_id, track_id, title = favourite_track(database)
    page = browser.page()
    log_in(page, site)
    listener_page = f"{site}/listeners/{listener_id}/"

    page.goto(listener_page)
    badge, shown = top_tracks(page)
    assert badge.startswith("cache miss") and title in shown
    page.reload()
    badge, shown = top_tracks(page)
    # Served from the cache: without the binding, the rename below would stay unseen.
    assert badge.startswith("cache hit") and title in shown

    page.goto(f"{site}/admin/music/track/{track_id}/change/")
    page.fill("#id_title", NEW_TITLE)
    saved = page.click("input[name=_save]")
    assert "was changed successfully" in saved and NEW_TITLE in saved

    page.goto(listener_page)
    badge, shown = top_tracks(page)
    assert badge.startswith("cache miss") and NEW_TITLE in shown
    page.reload()
    badge, shown = top_tracks(page)
    assert badge.startswith("cache hit") and NEW_TITLE in shown  # cached again, renamed
