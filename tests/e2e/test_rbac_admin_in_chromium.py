"""RBAC in the admin as people use it: headless Chromium against a real server.

The superuser grants ``operator`` the invalidate permission on the ``tracks``
partition through guardian's object-permission screen.  ``operator`` then
invalidates it with the admin action (the home page's chart, cached, is
recomputed on the next view) and finds the event in the audit log, filtered.
``intern``, who may only see the partition, runs the same action: refused,
the chart stays cached, and the superuser finds the ``permission_denied`` row.
Screenshots of each step are kept in tests/e2e/artifacts/rbac/ (gitignored).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import Browser, Page
from .conftest import ROOT, demo_site, require_chromium

PASSWORD = "e2e-rbac-password-3f7a"  # throwaway accounts of a throwaway site
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts" / "rbac"
PARTITIONS = "/admin/spotify_cache/cachepartition/"
AUDIT = "/admin/spotify_cache/auditlogentry/"
CHART_BADGE = "h1 .cache"
SETUP = f"""
from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm
from spotify_cache.models import CachePartition
tracks = CachePartition.objects.get(alias="default", name="tracks")
for name in ("operator", "intern"):
    user = get_user_model().objects.create_user(name, password={PASSWORD!r}, is_staff=True)
    assign_perm("spotify_cache.view_cachepartition", user, tracks)
operator = get_user_model().objects.get(username="operator")
assign_perm("spotify_cache.viewaudit_cachepartition", operator, tracks)
"""


@pytest.fixture(scope="module")
def rbac_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(URL, database) of the demo site with ``admin``, ``operator`` and ``intern``."""
    require_chromium()
    directory = tmp_path_factory.mktemp("rbac")
    with demo_site(directory, setup=SETUP, DJANGO_SUPERUSER_PASSWORD=PASSWORD) as url:
        yield url, directory / "db.sqlite3"


@pytest.fixture(scope="module")
def shots() -> Path:
    """The artifacts directory, emptied of the previous run's screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture
def open_browser(tmp_path: Path) -> Iterator[object]:
    """``open_browser(name)``: a browser of its own (own cookies) per person."""
    started: list[Browser] = []

    def start(name: str) -> Page:
        browser = Browser(require_chromium(), tmp_path / f"profile-{name}")
        started.append(browser)
        return browser.page()

    yield start
    for browser in started:
        browser.close()


def log_in(page: Page, site: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    assert "Log out" in page.click("input[type=submit]")


def run_action(page: Page, site: str, partition_pk: int, action: str) -> str:
    """Tick the partition in the list, pick the action, press Go; the page after."""
    page.goto(site + PARTITIONS)
    page.evaluate(
        f"document.querySelector('input.action-select[value=\"{partition_pk}\"]').click()"
    )
    page.evaluate(f"document.querySelector('select[name=action]').value = '{action}'")
    return page.click("button[name=index]")


def partition_pk(database: Path, name: str) -> int:
    with sqlite3.connect(database) as db:
        (pk,) = db.execute(
            "SELECT id FROM spotify_cache_cachepartition WHERE alias = 'default' AND name = ?",
            [name],
        ).fetchone()
    return int(pk)


def wait_for_entry(database: Path, action: str, actor: str, timeout: float = 15) -> tuple:
    """The audit row, once the server's writer thread has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            row = db.execute(
                "SELECT action, outcome, partition, reason FROM spotify_cache_auditlogentry "
                "WHERE action = ? AND actor_label = ? ORDER BY seq DESC LIMIT 1",
                [action, actor],
            ).fetchone()
        if row:
            return tuple(row)
        time.sleep(0.2)
    raise AssertionError(f"no {action} entry by {actor} in the audit log after {timeout} s")


def chart_badge(page: Page, site: str) -> str:
    page.goto(site + "/")
    return page.text(CHART_BADGE)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, path


def test_granted_in_guardians_screen_the_operator_invalidates_and_finds_it_in_the_log(
    rbac_site: tuple[str, Path], open_browser, shots: Path
) -> None:
    site, database = rbac_site
    tracks = partition_pk(database, "tracks")

    admin = open_browser("admin")
    log_in(admin, site, "admin")
    admin.goto(f"{site}{PARTITIONS}{tracks}/permissions/")
    admin.fill("#id_user", "operator")
    screen = admin.click("input[name=submit_manage_user]")
    assert "Manage user" in screen and "operator" in screen
    admin.evaluate(
        "for (const o of document.querySelectorAll('#id_permissions_from option'))"
        " o.selected = o.value === 'invalidate_cachepartition';"
        "SelectBox.move('id_permissions_from', 'id_permissions_to');"
    )
    admin.screenshot(shots / "1-admin-grants-invalidate.png")
    admin.click("#submit")

    operator = open_browser("operator")
    log_in(operator, site, "operator")
    listed = operator.goto(site + PARTITIONS)
    assert "tracks" in listed and "listeners" not in listed  # only what they hold perms on
    chart_badge(operator, site)
    assert chart_badge(operator, site).startswith("cache hit")

    done = run_action(operator, site, tracks, "invalidate_selected")
    assert "Invalidated 1 partition: default/tracks." in done
    operator.screenshot(shots / "2-operator-invalidated.png")
    assert chart_badge(operator, site).startswith("cache miss")  # the chart was invalidated

    assert wait_for_entry(database, "invalidate", "operator")[:3] == ("invalidate", "ok", "tracks")
    operator.goto(site + AUDIT)
    filtered = operator.click('a[href="?action__exact=invalidate"]')
    assert "operator" in filtered and "tracks" in filtered
    assert "permission denied" not in operator.text("#result_list")
    operator.screenshot(shots / "3-operator-audit-log-filtered.png")

    for name in (
        "1-admin-grants-invalidate",
        "2-operator-invalidated",
        "3-operator-audit-log-filtered",
    ):
        assert_png(shots / f"{name}.png")


def test_the_intern_is_refused_and_the_refusal_is_in_the_log(
    rbac_site: tuple[str, Path], open_browser, shots: Path
) -> None:
    site, database = rbac_site
    tracks = partition_pk(database, "tracks")

    intern = open_browser("intern")
    log_in(intern, site, "intern")
    chart_badge(intern, site)
    assert chart_badge(intern, site).startswith("cache hit")

    refused = run_action(intern, site, tracks, "invalidate_selected")
    assert (
        "Permission denied (recorded): you may not invalidate 1 partition: default/tracks."
        in refused
    )
    intern.screenshot(shots / "4-intern-denied.png")
    assert chart_badge(intern, site).startswith("cache hit")  # nothing was invalidated

    entry = wait_for_entry(database, "permission_denied", "intern")
    assert entry[:3] == ("permission_denied", "denied", "tracks")
    assert "invalidate_cachepartition" in entry[3]

    admin = open_browser("admin")
    log_in(admin, site, "admin")
    admin.goto(site + AUDIT)
    filtered = admin.click('a[href="?action__exact=permission_denied"]')
    assert "intern" in filtered and "lacks spotify_cache.invalidate_cachepartition" in filtered
    admin.screenshot(shots / "5-admin-audit-log-denials.png")

    for name in ("4-intern-denied", "5-admin-audit-log-denials"):
        assert_png(shots / f"{name}.png")
