"""Hostile input to the log redactor (issue 10 #6, #9): linear at 1 MB, and credentials in any URL hidden.

The redactor runs on every log line, which can hold text a job chose (a 30,000-character job id
or function name). These tests check behaviour at 1 MB against a reference that is obviously
right: redaction acts within one blank-separated word, so redacting the joined text must equal
joining the redacted words. A quadratic redactor does not finish 1 MB within the test timeout;
`python -m bench.redaction` reports the time ratio.
"""

from __future__ import annotations

import random

import pytest

from tests.conftest import clean_env, run_cli
from worker.logs import Redactor
from worker.redaction import redact_urls
from worker.settings import Settings

MB = 1_000_000

# (word, what the redactor must make of it)
WORDS = [
    ("redis://default:pw@10.0.0.1:6380/2", "redis://default:***@10.0.0.1:6380/2"),
    ("https://user:s3cr3t@api.example/v1", "https://user:***@api.example/v1"),
    ("https://ghp_token@github.com/x.git", "https://***@github.com/x.git"),
    ("https://api.example/v1?api_key=abc123&x=1", "https://api.example/v1?api_key=***&x=1"),
    ("a://b://c:d@e", "a://b://c:***@e"),
    ("plain-text", "plain-text"),
    ("x://u:p", "x://u:p"),
    ("mailto:someone@example.org", "mailto:someone@example.org"),
    ("://", "://"),
]


@pytest.mark.parametrize(("word", "expected"), WORDS)
def test_words(word: str, expected: str) -> None:
    """Each credential form is hidden; user names (with a password) and hosts stay."""
    assert Redactor()(word) == expected


def test_one_megabyte_of_mixed_words_matches_the_word_by_word_reference() -> None:
    """1 MB of URLs and noise: the result equals redacting word by word (the reference)."""
    rng = random.Random(10)
    words: list[str] = []
    size = 0
    while size < MB:
        word, _ = rng.choice(WORDS)
        if rng.random() < 0.3:
            word = "a" * rng.randint(1, 50_000)
        words.append(word)
        size += len(word) + 1
    redact = Redactor(["s3cr3t"])
    assert redact(" ".join(words)) == " ".join(redact(word) for word in words)


@pytest.mark.parametrize("text", [
    "a" * MB,                                  # a scheme-like run that never reaches "://"
    "x://u:" + "p" * MB,                       # user and password that never reach "@"
    "http://" + "a:" * (MB // 2),              # many colons, no "@"
    "x://" * (MB // 4),                        # "://" everywhere
    "bearer " + " " * MB + "!",                # a Bearer prefix with no token
    "?token" * (MB // 6),                      # query-like text with no "="
])
def test_pathological_megabyte_is_left_alone(text: str) -> None:
    """Inputs built to make a backtracking pattern quadratic come back unchanged (no credential in them)."""
    assert Redactor()(text) == text


def test_pathological_megabyte_with_a_credential_at_the_end() -> None:
    """A 1 MB authority whose password is only recognisable at its last character is still hidden."""
    text = "x://" + "u" * MB + ":pw@host"
    assert redact_urls(text) == "x://" + "u" * MB + ":***@host"


def test_doctor_prints_openai_base_url_without_its_credentials(redis_url: str) -> None:
    """doctor lists OPENAI_BASE_URL with its password (and a token user name) replaced by ***."""
    for url, shown in [("https://proxyuser:proxy-pass-91c2@llm.example/v1", "https://proxyuser:***@llm.example/v1"),
                       ("https://tok-77aa1@llm.example/v1", "https://***@llm.example/v1")]:
        result = run_cli("doctor", env=clean_env(REDIS_URL=redis_url, OPENAI_BASE_URL=url), timeout=60)
        output = result.stdout + result.stderr
        assert shown in output, output
        assert "proxy-pass-91c2" not in output and "tok-77aa1" not in output


def test_describe_redacts_every_url_setting() -> None:
    """Settings.describe(), used by doctor and start-up logs, hides credentials of every URL value."""
    shown = Settings.from_env({"OPENAI_BASE_URL": "https://u:pw-3@h.example/v1"}).describe()
    assert shown["openai_base_url"] == "https://u:***@h.example/v1"
