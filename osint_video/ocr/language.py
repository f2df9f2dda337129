"""Which language a piece of on-screen text is in, from its letters alone.

Tesseract reads with all packs at once (`rus+ukr+eng`) and its per-word model language (hOCR
`lang`) was measured to say `rus` for Ukrainian text that has no Ukrainian-only letter
("ВОГОНЬ ПО ВОРОГУ"), so it adds nothing the letters do not already say. The letters decide:

- more Latin than Cyrillic letters: "en" (the only Latin-script pack we load);
- Cyrillic with more Ukrainian-only letters (і ї є ґ) than Russian-only ones (ы э ъ ё): "uk";
- any other Cyrillic: "ru" (the seed case's language; an annotator corrects the rare miss);
- Belarusian-only ў: "other";
- no letters at all (a timecode, digits): None, there is no language to state.
"""

from __future__ import annotations

UKRAINIAN_ONLY = frozenset("іїєґІЇЄҐ")
RUSSIAN_ONLY = frozenset("ыэъёЫЭЪЁ")
BELARUSIAN_ONLY = frozenset("ўЎ")


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def guess_language(text: str) -> str | None:
    """The Label Studio `text_language` choice for `text` (see the module docstring).

    Args:
        text: recognised text, any number of lines.

    Returns:
        "ru", "uk", "en", "other", or None when the text has no letters.
    """
    cyrillic = sum(1 for ch in text if _is_cyrillic(ch))
    latin = sum(1 for ch in text if _is_latin(ch))
    other = sum(1 for ch in text if ch.isalpha()) - cyrillic - latin
    if cyrillic + latin + other == 0:
        return None
    if other > cyrillic + latin:
        return "other"
    if latin > cyrillic:
        return "en"
    if any(ch in BELARUSIAN_ONLY for ch in text):
        return "other"
    uk = sum(1 for ch in text if ch in UKRAINIAN_ONLY)
    ru = sum(1 for ch in text if ch in RUSSIAN_ONLY)
    return "uk" if uk > ru else "ru"


# Latin letters drawn exactly like Cyrillic ones: tesseract with rus+ukr+eng loaded sometimes
# returns "HA" for "НА" inside a Russian caption (measured on a burned-in "КОЛОННА НА ДОРОГЕ").
LOOKALIKES = str.maketrans("ABCEHKMOPTXYaceopxy", "АВСЕНКМОРТХУасеорху")
_LATIN_WITH_TWIN = frozenset("ABCEHKMOPTXYaceopxy")


def cyrillic_lookalikes(words: list[str]) -> list[str]:
    """Words of a line with all-look-alike Latin words spelt in Cyrillic, when the line is
    Cyrillic: a word only of such letters in a line with more Cyrillic than Latin letters.

    A word with any other Latin letter (a real English word, a handle like "@kursk_front") is
    left as read, and so is every word of a mostly Latin line.
    """
    line = " ".join(words)
    if sum(_is_cyrillic(ch) for ch in line) <= sum(_is_latin(ch) for ch in line):
        return list(words)
    out = []
    for word in words:
        letters = [ch for ch in word if ch.isalpha()]
        if letters and all(ch in _LATIN_WITH_TWIN for ch in letters):
            word = word.translate(LOOKALIKES)
        out.append(word)
    return out
