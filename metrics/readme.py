"""python -m metrics.readme: rewrite the README's metric table from the registry (a test checks it)."""

from __future__ import annotations

from pathlib import Path

from metrics.__main__ import metrics_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- metrics:start -->", "<!-- metrics:end -->"


def render(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{metrics_markdown()}\n{END}{tail}"


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    print(f"updated {README}")
