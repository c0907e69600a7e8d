"""Customer texts that need no reply (issue 13 item 2; README "Texts that need no reply"): closers and reactions.

A **reaction** is a whole text that is a tapback or reaction sent over SMS (iMessage's `Liked “…”`, `Loved “…”`,
`Emphasized “…”`, `Laughed at “…”`, `Disliked “…”`, `Questioned “…”`, iOS's `Reacted 😂 to “…”` and `Removed a
like from “…”`, Google Messages' `👍 to “…”`): one of settings.reactions, matched against the whole text, or
emoji alone (with spaces, skin tones and variation selectors).
A **closer** is a text made only of closer phrases (settings.closers: "thanks", "ok", "got it", "gracias",
"merci", "danke", ...), separated by spaces, punctuation or emoji, perhaps ending in a name (one capitalised
word: "Thanks Luis!"), with no question mark: "great thanks!", "ok 👍"; "thanks, when do you open?" asks
something and stays an inquiry, "ok cancel it" says more than a closer.

The rules run in the warehouse with DuckDB's RE2 (linear time, Unicode classes): format characters (a
left-to-right mark some phones put before a reaction) are removed first; for closers every run of characters
that are not letters, digits or apostrophes becomes one space, and the phrases must then make up the whole text.
"""

from __future__ import annotations

# RE2 (warehouse) expressions of the fixed rules; benchmarks/pandas_reference.py implements them independently
FORMAT_CHARS_RE = r"\p{Cf}"
EMOJI_ONLY_RE = r"[\p{So}\p{Sk}\p{Mn}\p{Z}\s]*\p{So}[\p{So}\p{Sk}\p{Mn}\p{Z}\s]*"
SEPARATORS_RE = r"[^\p{L}\p{N}'’]+"
QUESTION_RE = r"[?？¿]"
LONGEST = 500  # a longer text is never a closer or a reaction: the regexes skip it

# Closer phrases, case-insensitive, in the common forms of English, Spanish, French, German, Portuguese and
# Italian (a phrase is a regex for words separated by single spaces: what a text becomes once normalised)
DEFAULT_CLOSERS = (
    r"thanks?(?: (?:a lot|so much|very much|again|a bunch|heaps))?",
    r"thank (?:you|u)(?: (?:so much|very much|again))?",
    r"(?:thanks?|thank you) for (?:the|your|all the|all your) (?:help|info|information|update|reply|response)",
    r"that(?:'|’)s (?:all|it|great|perfect)|confirmed|all done",
    r"thx|tx|ty|tysm|tyvm|many thanks|much appreciated|appreciated?|appreciate (?:it|that)",
    r"ok(?:ay)?|okey|k|kk|alright|all right|got it|gotcha|understood|noted|will do|sounds good",
    r"great|perfect|awesome|cool|nice|excellent|wonderful|amazing|brilliant|lovely|fantastic|super",
    r"no worries|no problem|np|all good|all set|cheers|bye|goodbye|see you|you too|you rock",
    r"have a (?:good|great|nice|lovely) (?:day|one|night|evening|weekend)",
    r"(?:muchas |mil )?gracias|vale|perfecto|listo|genial|de acuerdo|entendido|muy bien|bueno",
    r"merci(?: beaucoup| bien)?|d'accord|d’accord|parfait|entendu|très bien|tres bien|génial",
    r"danke(?: sch(?:ö|oe)n| sehr)?|vielen dank|alles klar|prima|passt|in ordnung",
    r"(?:muito )?obrigad[oa]|valeu|beleza|perfeito|combinado|tudo bem",
    r"grazie(?: mille)?|perfetto|va bene|d'accordo|d’accordo|ottimo",
)
_QUOTED = r"[“\"‘«„].*[”\"’»“]"
DEFAULT_REACTIONS = (
    rf"(?s)(?:Liked|Loved|Disliked|Laughed at|Emphasi[sz]ed|Questioned) {_QUOTED}",
    rf"(?s)Removed an? [a-z ]+ from {_QUOTED}",
    rf"(?s)Reacted (?:with )?\S+ to {_QUOTED}",
    rf"(?s)[^\sA-Za-z0-9]{{1,12}} to {_QUOTED}",  # Google Messages: 👍 to “…”
    rf"(?s)(?:Le gustó|Le encantó|No le gustó|Le hizo reír|Enfatizó|Cuestionó|Le hizo gracia) {_QUOTED}",
)


def closer_regex(phrases: tuple[str, ...] | list[str]) -> str:
    """Phrases (case-insensitive), one or more, separated by single spaces, then perhaps a name (a capitalised
    word, case-sensitive): the whole normalised text. Never matches when there are no phrases."""
    if not phrases:
        return r"[^\s\S]"
    one = "(?i:" + "|".join(f"(?:{p})" for p in phrases) + ")"
    return rf"{one}(?: {one})*(?: \p{{Lu}}\p{{Ll}}+)?"
