"""Keyword rules: which rules an inbound message's text matches (CONTRACT §5).

Text and keywords are normalized the same way before comparing: Unicode NFKC (full-width
``ＳＴＯＰ`` becomes ``STOP``), case folded, accents removed (``arrêt`` becomes ``arret``),
punctuation and whitespace around the text and around each word dropped, inner whitespace
collapsed. So ``" stop. "``, ``"Stop!"`` and ``"ＳＴＯＰ"`` are all ``stop``.

Match modes, as a table (``MATCHERS``): ``first_word`` (the default: the first word is the
keyword, or the first words are a multi-word keyword), ``exact`` (the whole text is the
keyword), ``contains`` (the keyword's words appear in the text, as whole words), ``regex``
(``re.search`` on the normalized text, case-insensitive).

The built-in compliance keywords match only when the whole message is the keyword, so
``"STOP please"`` is not an opt-out unless a configured rule says so. A configured rule with the
same keyword replaces that built-in; ``builtin_keywords = false`` turns them all off.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from common.config import Config, RuleConfig
from workers.records import ProviderRule

ORIGIN_SMSPIPE = "smspipe"
ORIGIN_PROVIDER = "provider"

# (name, keywords, action); all of them `exact`.
BUILTIN_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("builtin-opt-out", ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), "opt_out"),
    ("builtin-opt-in", ("START", "UNSTOP"), "opt_in"),
    ("builtin-help", ("HELP", "INFO"), "help"),
)
# A provider match whose action the provider does not say, and that no rule of ours names.
PROVIDER_DEFAULT_ACTION = "tag"


def _is_edge(character: str) -> bool:
    """Punctuation, symbols and separators: what is stripped around the text and its words."""
    return unicodedata.category(character)[0] in "PSZC"


def normalize(text: str | None) -> str:
    """The comparable form of a text or keyword (see the module docstring)."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # Decompose, then drop the combining marks: "ê" -> "e" + U+0302 -> "e".
    bare = "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))
    words = ("".join(_strip_edges(word)) for word in bare.split())
    return " ".join(word for word in words if word)


def _strip_edges(word: str) -> str:
    start, end = 0, len(word)
    while start < end and _is_edge(word[start]):
        start += 1
    while end > start and _is_edge(word[end - 1]):
        end -= 1
    return word[start:end]


def _first_word(text: str, keyword: str) -> bool:
    return text == keyword or text.startswith(keyword + " ")


def _exact(text: str, keyword: str) -> bool:
    return text == keyword


def _contains(text: str, keyword: str) -> bool:
    return f" {keyword} " in f" {text} "


MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "first_word": _first_word,
    "exact": _exact,
    "contains": _contains,
}


@dataclass(frozen=True)
class Rule:
    name: str
    keywords: tuple[str, ...]  # as written (reported in events)
    match: str
    action: str
    lists: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()  # regex rules only

    def matched_keyword(self, normalized_text: str) -> str | None:
        """The keyword (as written) that matched, or None."""
        if self.match == "regex":
            for keyword, pattern in zip(self.keywords, self.patterns):
                if pattern.search(normalized_text):
                    return keyword
            return None
        matcher = MATCHERS[self.match]
        for keyword in self.keywords:
            if matcher(normalized_text, normalize(keyword)):
                return keyword
        return None


@dataclass(frozen=True)
class KeywordMatch:
    rule: str | None
    keyword: str | None
    action: str
    lists: tuple[str, ...]
    origin: str  # smspipe | provider


def _from_config(rule: RuleConfig) -> Rule:
    patterns = tuple(re.compile(keyword, re.IGNORECASE) for keyword in rule.keywords) if rule.match == "regex" else ()
    return Rule(rule.name, rule.keywords, rule.match, rule.action, rule.lists, patterns)


class Ruleset:
    """The rules in force: the configured ones in file order, then the built-ins left."""

    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules

    @classmethod
    def from_config(cls, config: Config) -> Ruleset:
        configured = tuple(_from_config(rule) for rule in config.rules)
        if not config.builtin_keywords:
            return cls(configured)
        overridden = {normalize(keyword) for rule in configured if rule.match != "regex" for keyword in rule.keywords}
        builtins = []
        for name, keywords, action in BUILTIN_RULES:
            left = tuple(keyword for keyword in keywords if normalize(keyword) not in overridden)
            if left:
                builtins.append(Rule(name, left, "exact", action))
        return cls(configured + tuple(builtins))

    def match(self, text: str | None) -> list[KeywordMatch]:
        """Every rule the text matches, in rule order."""
        normalized = normalize(text)
        if not normalized:
            return []
        matches = []
        for rule in self.rules:
            keyword = rule.matched_keyword(normalized)
            if keyword is not None:
                matches.append(KeywordMatch(rule.name, keyword, rule.action, rule.lists, ORIGIN_SMSPIPE))
        return matches

    def action_for_keyword(self, keyword: str | None) -> str | None:
        """The action of our non-regex rule naming this keyword (for provider matches)."""
        wanted = normalize(keyword)
        for rule in self.rules:
            if rule.match != "regex" and any(normalize(candidate) == wanted for candidate in rule.keywords):
                return rule.action
        return None

    def provider_match(self, rule: ProviderRule) -> KeywordMatch:
        """A rule the provider already applied, kept as it is. Its action is the provider's when
        given, else that of our rule with the same keyword (Infobip ``keyword = STOP`` is an
        opt-out), else ``tag``."""
        action = rule.action or self.action_for_keyword(rule.keyword) or PROVIDER_DEFAULT_ACTION
        return KeywordMatch(rule.rule, rule.keyword, action, tuple(rule.lists), ORIGIN_PROVIDER)


DEFAULT_RULESET = Ruleset.from_config(Config())
