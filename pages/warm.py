"""python -m pages.warm --db DB: render every page once headless and keep each read-layer result it computed.

Started by a load right after it publishes (replyboard.warm_cache.start_warmer), so the first person to open a
page after a load gets its default view from the store instead of waiting for it to be computed. The pages are
rendered exactly as a new single-user session renders them (Streamlit's AppTest: default filters, default
period), so the stored results are the ones a session asks for; any other view is computed as before.
One warmer per warehouse: a load that publishes while one runs is warmed by it when it is done.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pages.catalog import PAGE_FILES
from replyboard import warehouse, warm_cache
from replyboard.appstate import AppState, AppStateError, state_path

ROOT = Path(__file__).resolve().parent.parent
DONE = ".done"
PAGE_TIMEOUT = 300  # seconds a page may take to render cold (a 100M warehouse); then the next page


def through_app_py() -> None:
    """Make every headless run go through app.py (its sidebar filters and navigation), as the server does.

    AppTest marks each new session as Streamlit's older pages-folder mode, so a page opened on a session's first
    run would run alone: no sidebar, hence no default dates, and other queries than a browser's
    (tests/conftest.py's app_navigation fixture does the same for the tests). Then the app is run once before
    switching to a page: without it switch_page may render the default page instead."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__
    if getattr(original, "_replyboard_app_py", False):
        return

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    init._replyboard_app_py = True  # type: ignore[attr-defined]
    PagesManager.__init__ = init  # type: ignore[method-assign]


def render_pages(db: Path) -> Iterator[tuple[str, float, str | None]]:
    """Render each page once in a new session: (page, seconds, error or None) as each is done."""
    from streamlit.testing.v1 import AppTest  # here: the load's process never imports Streamlit

    os.environ["REPLYBOARD_DB"] = str(db)
    through_app_py()
    for page in PAGE_FILES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=PAGE_TIMEOUT)
        t0 = time.perf_counter()
        error = None
        try:
            at.run()  # the app first (its navigation declared), then the page: switch_page alone may open the default
            at.switch_page(page)
            at.run()
            if at.exception:
                error = at.exception[0].message
        except Exception as exc:  # one page that cannot render is logged; the others are still warmed
            error = f"{type(exc).__name__}: {exc}"
        yield page, time.perf_counter() - t0, error


def warm(db: Path, log: Callable[[str], None] = print) -> bool:
    """Warm the published version of `db` (and any newer one published meanwhile); False when another warmer
    holds the store (it will warm the newest version when it is done)."""
    os.environ[warm_cache.WRITE_ENV] = "1"
    with warm_cache.warming(db) as mine:
        if not mine:
            log(f"{db}: another warmer is running; it warms the newest version when done")
            return False
        with contextlib.suppress(AppStateError):
            AppState(state_path(db))  # made now, not by a page midway: its inode is part of the OKR page's key
        while True:
            version = warehouse.data_version(db)
            warm_cache.prune(db, version)
            done = warm_cache.folder(db) / version / DONE
            if version == "missing" or done.exists():
                return True
            t0 = time.perf_counter()
            for page, seconds, error in render_pages(db):
                log(f"{page}: {seconds:.2f} s" + (f" (not warmed: {error})" if error else ""))
            if warehouse.data_version(db) == version:
                if done.parent.is_dir():  # nothing stored: no page had data to show
                    done.touch()
                log(f"{db}: version {version} warmed in {time.perf_counter() - t0:.1f} s")
                return True
            log(f"{db}: a newer version was published while warming; warming that one")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pages.warm", description=__doc__)
    parser.add_argument("--db", required=True, help="the warehouse file")
    args = parser.parse_args(argv)
    db = Path(args.db)
    if not db.exists():
        print(f"error: {db}: no warehouse here", file=sys.stderr)
        return 2
    warm(db, log=lambda line: print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
