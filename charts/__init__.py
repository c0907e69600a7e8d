"""Presentation: pure figure functions ((frame, *, options) -> go.Figure) and the one theme of colours.

Used by the dashboard's pages and the digests; the core (etl/, metrics/, replyboard/) never plots.
"""
