"""Results that reach people: scheduled digests and alerts by email, Slack and webhook (issue 17).

The presentation layer's other edge (the dashboard is the first): it reads the warehouse only through the read
layer (metrics), draws with charts/, and keeps what it sent in the app-state store (replyboard.appstate). The core
(etl, metrics, replyboard) never imports it, except the two command lines that add its commands:
``python -m metrics digest | alerts`` and ``python -m etl serve``'s "digests" and "alerts" tasks.

- digests.build: a Digest from the warehouse (okr, yesterday, team reports)
- digests.render: HTML (css-inline), text, MIME, Slack blocks, webhook JSON
- digests.images: charts as PNG (kaleido on the system's Chromium)
- digests.deliver: SMTP, Slack incoming webhooks, signed generic webhooks; bounded retries; masked errors
- digests.run: which subscriptions are due, --out / --send / --dry-run, the sends' records
- digests.alerts: alert rules and their episodes
- digests.cli, digests.tasks: the commands and the etl serve tasks
"""
