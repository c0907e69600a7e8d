"""Charts as PNG: Plotly's static export (kaleido) driving the system's Chromium.

Kaleido finds the browser through BROWSER_PATH; when it is not set, /usr/bin/chromium (Debian's package, what
.ci/run installs) is used if it exists. Nothing is ever downloaded (kaleido's get_chrome is never called). All the
figures of a digest are drawn in one browser session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from digests.model import Chart

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
SCALE = 2  # sharp on high-density screens; the <img> keeps the chart's own width and height
TIMEOUT_SECONDS = 90


class ChartError(Exception):
    """The charts could not be drawn (no browser, a browser that failed)."""


def browser_path() -> str | None:
    given = os.environ.get("BROWSER_PATH")
    if given:
        return given
    if SYSTEM_CHROMIUM.exists():
        return str(SYSTEM_CHROMIUM)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_png(charts: Sequence[Chart]) -> dict[str, bytes]:
    """{chart id: PNG bytes}; ChartError naming the browser when they cannot be drawn."""
    if not charts:
        return {}
    browser = browser_path()
    if browser is None:
        raise ChartError(
            "no Chromium to draw the charts with: install Debian's chromium (apt-get install chromium) "
            "or set BROWSER_PATH to a Chrome or Chromium binary"
        )
    os.environ["BROWSER_PATH"] = browser  # kaleido (choreographer) reads it
    try:
        return _run(_render(charts))
    except ChartError:
        raise
    except Exception as exc:  # the browser's own failures come in many types; the message is what matters
        raise ChartError(f"the charts could not be drawn with {browser}: {type(exc).__name__}: {exc}") from None


async def _render(charts: Sequence[Chart]) -> dict[str, bytes]:
    import kaleido  # only when charts are drawn: it starts a browser

    out: dict[str, bytes] = {}
    async with kaleido.Kaleido(n=1, timeout=TIMEOUT_SECONDS) as k:
        for chart in charts:
            opts = {"format": "png", "width": chart.width, "height": chart.height, "scale": SCALE}
            out[chart.id] = await k.calc_fig(chart.figure, opts=opts)
    return out


T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from code that already runs inside an event loop (then in a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict[str, Any] = {}  # the value or the error, from the thread

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="replyboard-charts")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
