"""The TOML file: rules and subscribers, and one clear line for each mistake."""

from __future__ import annotations

import pytest

from common.config import Config, RuleConfig, SubscriberConfig, load_config, parse_config
from common.errors import ConfigError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_contract_example(tmp_path):
    path = tmp_path / "smspipe.toml"
    path.write_text(
        f"""
[[rules]]
name = "newsletter"
keywords = ["SUBSCRIBE", "JOIN"]
match = "first_word"
action = "opt_in"
lists = ["newsletter"]

[[subscribers]]
name = "crm"
url = "https://crm.example.com/hooks/sms"
secret = "{SECRET}"
types = ["io.smspipe.message.received.v1"]
"""
    )

    config = load_config(str(path))

    assert config == Config(
        rules=(RuleConfig("newsletter", ("SUBSCRIBE", "JOIN"), "first_word", "opt_in", ("newsletter",)),),
        subscribers=(SubscriberConfig("crm", "https://crm.example.com/hooks/sms", SECRET, ("io.smspipe.message.received.v1",)),),
        builtin_keywords=True,
    )
    assert config.subscribers[0].wants("io.smspipe.message.received.v1")
    assert not config.subscribers[0].wants("io.smspipe.message.status.v1")


def test_no_file_means_no_rules():
    assert load_config(None) == Config()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"builtin_keywords": "no"}, "t.toml: builtin_keywords: expected true or false"),
        ({"rules": {"name": "x"}}, "t.toml: rules: expected [[rules]] tables"),
        ({"rules": [{"keywords": ["A"]}]}, "t.toml: rules[0].name: expected a non-empty string"),
        ({"rules": [{"name": "r", "keywords": []}]}, "t.toml: rules[0] (r).keywords: must not be empty"),
        ({"rules": [{"name": "r", "keywords": ["A"], "match": "fuzzy"}]},
         "t.toml: rules[0] (r).match: expected one of first_word, exact, contains, regex, got 'fuzzy'"),
        ({"rules": [{"name": "r", "keywords": ["A"], "action": "delete"}]},
         "t.toml: rules[0] (r).action: expected one of opt_in, opt_out, help, tag, got 'delete'"),
        ({"rules": [{"name": "r", "keywords": ["(unclosed"], "match": "regex"}]},
         "t.toml: rules[0] (r).keywords: invalid regex '(unclosed'"),
        ({"rules": [{"name": "r", "keywords": ["A"]}, {"name": "r", "keywords": ["B"]}]},
         "t.toml: rules: duplicate name 'r'"),
        ({"subscribers": [{"name": "s", "url": "ftp://x", "secret": SECRET}]},
         "t.toml: subscribers[0] (s).url: expected an http(s) URL, got 'ftp://x'"),
        ({"subscribers": [{"name": "s", "url": "http://127.0.0.1/", "secret": "plain"}]},
         "t.toml: subscribers[0] (s).secret: expected a Standard Webhooks secret (whsec_...)"),
        ({"subscribers": [{"name": "s", "url": "http://127.0.0.1/", "secret": SECRET, "types": ["io.x"]}]},
         "t.toml: subscribers[0] (s).types: unknown event type 'io.x'"),
        ({"subscribers": [{"name": "s", "url": "http://127.0.0.1/", "secret": SECRET, "retry_schedule": [-1]}]},
         "t.toml: subscribers[0] (s).retry_schedule: expected a list of seconds"),
    ],
)
def test_bad_entries_are_named(document, message):
    with pytest.raises(ConfigError) as raised:
        parse_config(document, "t.toml")
    assert str(raised.value).startswith(message)


def test_invalid_toml_names_the_setting(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[rules]\nname=")
    with pytest.raises(ConfigError, match=r"^SMSPIPE_CONFIG: .*bad.toml is not valid TOML"):
        load_config(str(path))
