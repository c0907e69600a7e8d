"""Colours in one place: OKR status, directions, and the chart palette."""

STATUS_COLOURS = {
    "on track": "#1a7f37",
    "at risk": "#bf8700",
    "off track": "#cf222e",
    "no data": "#8c959f",
    "not started": "#8c959f",
    "done": "#1a7f37",
}
DIRECTION_COLOURS = {"inbound": "#0969da", "outbound": "#8250df"}
PALETTE = ["#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#57606a", "#1b7c83", "#d4a72c"]
HEATMAP_SCALE = "Blues"
# Survey score bands: NPS detractors / passives / promoters, CSAT below / at or above the satisfied threshold.
SCORE_BAND_COLOURS = {
    "detractors": "#cf222e",
    "passives": "#bf8700",
    "promoters": "#1a7f37",
    "not satisfied": "#8c959f",
    "satisfied": "#1a7f37",
}
