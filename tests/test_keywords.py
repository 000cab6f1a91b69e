"""Keyword rules (CONTRACT §5): normalization, match modes, built-ins and their overrides,
provider matches, and configuration errors that stop start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import Config, parse_config
from common.errors import ConfigError
from tests.conftest import ROOT
from workers.keywords import KeywordMatch, Ruleset, normalize
from workers.records import ProviderRule

ARRET = {"rules": [{"name": "stop-fr", "keywords": ["ARRET"], "action": "opt_out", "match": "exact"}]}
STOP_FIRST_WORD = {"rules": [{"name": "stop-loose", "keywords": ["STOP"], "action": "opt_out", "lists": ["all"]}]}
NO_BUILTINS = {"builtin_keywords": False}
MODES = {
    "rules": [
        {"name": "pizza-first", "keywords": ["PIZZA"], "match": "first_word", "action": "tag", "lists": ["food"]},
        {"name": "two-words", "keywords": ["opt in"], "match": "exact", "action": "opt_in"},
        {"name": "deal", "keywords": ["deal"], "match": "contains", "action": "tag"},
        {"name": "code", "keywords": [r"^code \d{4}$"], "match": "regex", "action": "tag"},
    ]
}


def builtin(action: str, keyword: str, name: str) -> KeywordMatch:
    return KeywordMatch(name, keyword, action, (), "smspipe")


OPT_OUT = "builtin-opt-out"

# (label, config document, text, expected matches)
CASES = [
    ("plain STOP", {}, "STOP", [builtin("opt_out", "STOP", OPT_OUT)]),
    ("lower case, spaces, full stop", {}, " stop. ", [builtin("opt_out", "STOP", OPT_OUT)]),
    ("full-width letters (NFKC)", {}, "ＳＴＯＰ", [builtin("opt_out", "STOP", OPT_OUT)]),
    ("exclamation mark", {}, "Stop!", [builtin("opt_out", "STOP", OPT_OUT)]),
    ("newlines and quotes around", {}, '\n"Unsubscribe"\n', [builtin("opt_out", "UNSUBSCRIBE", OPT_OUT)]),
    ("STOP please is not an opt-out by default", {}, "STOP please", []),
    ("a word containing STOP", {}, "nonstop", []),
    ("START", {}, "start", [builtin("opt_in", "START", "builtin-opt-in")]),
    ("UNSTOP", {}, "Unstop.", [builtin("opt_in", "UNSTOP", "builtin-opt-in")]),
    ("HELP", {}, "help?", [builtin("help", "HELP", "builtin-help")]),
    ("INFO", {}, "Info", [builtin("help", "INFO", "builtin-help")]),
    ("every opt-out built-in: QUIT", {}, "quit", [builtin("opt_out", "QUIT", OPT_OUT)]),
    ("empty text", {}, "", []),
    ("only punctuation", {}, " ?! ", []),
    ("accents with a configured rule", ARRET, "arrêt", [KeywordMatch("stop-fr", "ARRET", "opt_out", (), "smspipe")]),
    ("accents, case and punctuation", ARRET, " Arrêt ! ", [KeywordMatch("stop-fr", "ARRET", "opt_out", (), "smspipe")]),
    ("configured rule adds to built-ins", ARRET, "STOP", [builtin("opt_out", "STOP", OPT_OUT)]),
    (
        "configured first_word STOP replaces the built-in",
        STOP_FIRST_WORD,
        "STOP please",
        [KeywordMatch("stop-loose", "STOP", "opt_out", ("all",), "smspipe")],
    ),
    (
        "the override leaves the other built-ins",
        STOP_FIRST_WORD,
        "STOP",
        [KeywordMatch("stop-loose", "STOP", "opt_out", ("all",), "smspipe")],
    ),
    ("builtin_keywords = false", NO_BUILTINS, "STOP", []),
    ("first_word", MODES, "Pizza tonight?", [KeywordMatch("pizza-first", "PIZZA", "tag", ("food",), "smspipe")]),
    ("first_word: not the first word", MODES, "no pizza", []),
    ("first_word: a longer word", MODES, "pizzas", []),
    ("exact, two words, extra spaces", MODES, "  OPT   in ", [KeywordMatch("two-words", "opt in", "opt_in", (), "smspipe")]),
    ("exact: more text", MODES, "opt in now", []),
    ("contains, as a whole word", MODES, "Any deal today?", [KeywordMatch("deal", "deal", "tag", (), "smspipe")]),
    ("contains: not inside a word", MODES, "ideal", []),
    ("regex on the normalized text", MODES, "CODE 1234.", [KeywordMatch("code", r"^code \d{4}$", "tag", (), "smspipe")]),
    ("regex: no match", MODES, "code 12345", []),
    (
        "several rules match, in rule order",
        MODES,
        "pizza deal",
        [
            KeywordMatch("pizza-first", "PIZZA", "tag", ("food",), "smspipe"),
            KeywordMatch("deal", "deal", "tag", (), "smspipe"),
        ],
    ),
]


@pytest.mark.parametrize(("label", "document", "text", "expected"), CASES, ids=[case[0] for case in CASES])
def test_keyword_matching(label, document, text, expected):
    # given
    rules = Ruleset.from_config(parse_config(document))

    # when
    matches = rules.match(text)

    # then
    assert matches == expected


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        (" stop. ", "stop"),
        ("ＳＴＯＰ", "stop"),
        ("Stop!", "stop"),
        ("arrêt", "arret"),
        ("ÉNOUGH  Already!!", "enough already"),
        ("«Stop»", "stop"),
        ("STOP\u3000please", "stop please"),  # ideographic space
        ("opt-out", "opt-out"),  # inner punctuation stays
    ],
)
def test_normalize(text, normalized):
    assert normalize(text) == normalized


# (label, provider rule, config document, expected match)
PROVIDER_CASES = [
    (
        "Interact rule with lists: reported as the provider's, a tag",
        ProviderRule(rule="Newsletter Signup", keyword="SUBSCRIBE", lists=("LST_1", "LST_2")),
        {},
        KeywordMatch("Newsletter Signup", "SUBSCRIBE", "tag", ("LST_1", "LST_2"), "provider"),
    ),
    (
        "Infobip keyword our built-ins call an opt-out",
        ProviderRule(rule=None, keyword="stop"),
        {},
        KeywordMatch(None, "stop", "opt_out", (), "provider"),
    ),
    (
        "Infobip keyword our config names",
        ProviderRule(rule=None, keyword="Arrêt"),
        ARRET,
        KeywordMatch(None, "Arrêt", "opt_out", (), "provider"),
    ),
    (
        "an action the provider gives is kept",
        ProviderRule(rule="r", keyword="QUIZ", action="opt_in"),
        {},
        KeywordMatch("r", "QUIZ", "opt_in", (), "provider"),
    ),
]


@pytest.mark.parametrize(("label", "rule", "document", "expected"), PROVIDER_CASES, ids=[c[0] for c in PROVIDER_CASES])
def test_provider_matches(label, rule, document, expected):
    assert Ruleset.from_config(parse_config(document)).provider_match(rule) == expected


def test_builtins_are_on_by_default():
    assert Config().builtin_keywords is True
    assert [rule.name for rule in Ruleset.from_config(Config()).rules] == [
        "builtin-opt-out", "builtin-opt-in", "builtin-help"
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"rules": [{"name": "bad", "keywords": ["(stop"], "match": "regex", "action": "opt_out"}]},
            "SMSPIPE_CONFIG: rules[0] (bad).keywords: invalid regex '(stop': "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            {"rules": [{"name": "x", "keywords": ["A"], "match": "fuzzy"}]},
            "SMSPIPE_CONFIG: rules[0] (x).match: expected one of first_word, exact, contains, regex, got 'fuzzy'",
        ),
        (
            {"rules": [{"name": "x", "keywords": ["A"], "action": "subscribe"}]},
            "SMSPIPE_CONFIG: rules[0] (x).action: expected one of opt_in, opt_out, help, tag, got 'subscribe'",
        ),
        ({"rules": [{"name": "x", "keywords": []}]}, "SMSPIPE_CONFIG: rules[0] (x).keywords: must not be empty"),
        ({"builtin_keywords": "no"}, "SMSPIPE_CONFIG: builtin_keywords: expected true or false"),
    ],
)
def test_bad_rules_are_named(document, message):
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    assert str(raised.value) == message


BAD_REGEX_TOML = """\
[[rules]]
name = "newsletter"
keywords = ["SUBSCRIBE"]
action = "opt_in"

[[rules]]
name = "codes"
keywords = ["code [0-9"]
match = "regex"
"""
BAD_REGEX_LINE = (
    "smspipe.toml: rules[1] (codes).keywords: invalid regex 'code [0-9': "
    "unterminated character set at position 5"
)


@pytest.fixture
def bad_config(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "smspipe.toml"
    path.write_text(BAD_REGEX_TOML)
    env = dict(os.environ, SMSPIPE_CONFIG=str(path), PYTHONPATH=str(ROOT), SMSPIPE_REDIS_URL="redis://127.0.0.1:1/0")
    return env


def test_celery_worker_refuses_to_start_with_an_invalid_regex(bad_config):
    # when the worker is started the way the Procfile does, bypassing the CLI
    run = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool", "solo"],
        env=bad_config, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )

    # then it stops at once with one line naming the entry
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"smspipe worker: bad configuration: {BAD_REGEX_LINE}"]


def test_smspipe_worker_refuses_to_start_with_an_invalid_regex(bad_config):
    run = subprocess.run(
        [sys.executable, "-m", "common.cli", "worker"],
        env=bad_config, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [f"Error: {BAD_REGEX_LINE}"]
