"""The README lists every metric with its definition, generated from the registry (python -m metrics.readme)."""

from metrics.readme import README, render
from metrics.registry import METRICS


def test_readme_metric_table_is_in_sync_with_the_registry():
    text = README.read_text()
    assert render(text) == text, "README metric table is stale: run `make readme`"
    for name in METRICS:
        assert f"| `{name}` |" in text


def test_readme_shows_the_two_commands_first():
    text = README.read_text()
    assert text.index("make run") < text.index("make test") < text.index("## Load your own exports")
