"""Greetings in a few languages."""

GREETINGS = {"en": "Hello", "fr": "Bonjour", "de": "Hallo"}


def greet(name: str, lang: str = "en") -> str:
    """Greet `name` in `lang` (English when the language is unknown)."""
    return f"{GREETINGS.get(lang, GREETINGS['en'])}, {name}!"
