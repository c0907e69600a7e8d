"""The "digests" and "alerts" tasks of ``python -m etl serve`` (settings' ``schedule:``), registered with
etl.serve.register_task when this module is imported (etl serve's command line does, its edge into this package).

- digests: every subscription whose latest cadence time is due and not sent yet (digests.run, scheduled sweep);
  schedule it often, e.g. every 15 minutes: each subscription's own cadence decides when it goes out.
- alerts: every rule once (digests.alerts); e.g. every 5 minutes.
A failed send is in the summary's errors (etl serve logs it; the next run tries again).
"""

from __future__ import annotations

import sys
from typing import Any

from etl.serve import Context, register_task


def _log(text: str) -> None:
    print(f"serve: {text}", file=sys.stderr, flush=True)


def digests_task(ctx: Context) -> dict[str, Any]:
    from digests.run import Request, run

    request = Request(
        db=ctx.db, settings=ctx.settings, settings_dir=ctx.settings_dir, send=True, scheduled=True, env=dict(ctx.env)
    )
    return run(request, _log, _log).as_json()


def alerts_task(ctx: Context) -> dict[str, Any]:
    from digests.alerts import AlertRequest, run_alerts

    request = AlertRequest(db=ctx.db, settings=ctx.settings, settings_dir=ctx.settings_dir, env=dict(ctx.env))
    return run_alerts(request, _log, _log).as_json()


register_task("digests", digests_task)
register_task("alerts", alerts_task)
