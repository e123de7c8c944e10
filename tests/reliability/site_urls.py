"""Async views of the test-only site: each awaits the cache several times."""

from __future__ import annotations

import asyncio

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import path


async def several(request: HttpRequest) -> HttpResponse:
    """Five reads in a row, as a view reading a few keys does."""
    await cache.aset("hits", 0)
    found = [await cache.aget(f"k{i}", i) for i in range(5)]
    return HttpResponse(str(sum(found)))


async def gathered(request: HttpRequest) -> HttpResponse:
    """Twenty reads at once: up to twenty connections on the request's event loop."""
    found = await asyncio.gather(*(cache.aget(f"k{i}", i) for i in range(20)))
    return HttpResponse(str(sum(found)))


urlpatterns = [path("several/", several), path("gathered/", gathered)]
