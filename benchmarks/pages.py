"""python -m benchmarks.pages DB: each page's first render and a filter change, in a new process (JSON out).

A new process is what a person opening the dashboard after a load meets: nothing in Streamlit's memory cache,
the warm store (replyboard.warm_cache) filled by the warmer the load started, if it ran.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_pages(db: Path) -> list[tuple[str, float, float]]:
    """First render and a filter change per page, through AppTest (what a user waits for)."""
    from streamlit.testing.v1 import AppTest

    from pages.catalog import PAGE_FILES, PAGES
    from pages.warm import through_app_py

    through_app_py()  # the sidebar's default filters, as in a browser (before, a first render had no dates)
    # A dashboard server has imported its modules (Streamlit, Plotly, the pages) long before a load publishes:
    # each page is opened once on a missing warehouse first, so no first render below pays for imports.
    os.environ["REPLYBOARD_DB"] = str(db.with_name(db.name + ".missing-for-imports"))
    for path in PAGE_FILES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.run()
        at.switch_page(path).run()
    os.environ["REPLYBOARD_DB"] = str(db)
    out = []
    for path in PAGE_FILES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        # The app's default page first (OKRs), untimed unless it is the page measured: AppTest needs one run to
        # know app.py's navigation before switch_page opens the page (pages.warm.through_app_py)
        t0 = time.perf_counter()
        at.run()
        if path != PAGE_FILES[0]:
            t0 = time.perf_counter()
            at.switch_page(path)
            at.run()
        t_first = time.perf_counter() - t0
        title = next(p.title for p in PAGES if p.path == path)
        if at.exception or not any(title in t.value for t in at.title):  # a page that did not open: no figure
            raise RuntimeError(f"{path} did not render: {[e.value for e in at.exception][:1]}")
        dates = at.session_state["dates"] if "dates" in at.session_state else None  # noqa: SIM401 - no .get() here
        if dates:
            start, end = dates
            at.session_state["dates"] = (start + (end - start) / 2, end)
        t0 = time.perf_counter()
        at.run()
        out.append((path, t_first, time.perf_counter() - t0))
    return out


def main(argv: list[str]) -> int:
    from replyboard import warm_cache

    pages = bench_pages(Path(argv[0]))
    print(json.dumps({"pages": pages, "warm_hits": warm_cache.hits}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
