"""The portal's words in Chinese (default) and English, from ``labels.yaml``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from tierhub.errors import ConfigError

LANGUAGES = ("zh", "en")
LABELS = Path(__file__).parent / "labels.yaml"


class Labels:
    """``t("key")`` → the word in one language; ``t("key", n=3)`` fills ``{n}``."""

    def __init__(self, lang: str, words: dict[str, str]) -> None:
        self.lang = lang
        self.words = words

    def __call__(self, key: str, **values: object) -> str:
        text = self.words.get(key)
        if text is None:
            raise ConfigError(f"no {self.lang} label {key!r}", fix=f"add it to {LABELS}")
        return text.format(**values) if values else text

    def pick(self, zh: str | None, en: str | None) -> str:
        """The Chinese or English one of a pair (reference tables carry both)."""
        return (en if self.lang == "en" else zh) or zh or en or ""


@cache
def read_labels(path: Path) -> dict[str, dict[str, str]]:
    """A labels file (``key: {zh: …, en: …}``) by language; every key must carry every language."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    table: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for key, pair in raw.items():
        for lang in LANGUAGES:
            if lang not in pair:
                raise ConfigError(f"label {key!r} has no {lang} text", fix=f"add it to {path}")
            table[lang][key] = str(pair[lang])
    return table


def _all() -> dict[str, dict[str, str]]:
    return read_labels(LABELS)


def labels(lang: str) -> Labels:
    """The labels of one language."""
    return Labels(lang, _all()[lang])
