"""Label selectors parse the way kubectl's `-l` does, and say what is wrong when they cannot."""

from __future__ import annotations

import pytest

from park.control.store.selectors import LabelSelector, Requirement, parse_selector
from park.core.errors import InvalidError


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_selector_selects_everything(text: str | None) -> None:
    assert parse_selector(text) is None


@pytest.mark.parametrize(
    ("text", "requirements"),
    [
        ("app=web", [Requirement("app", "=", frozenset({"web"}))]),
        ("app==web", [Requirement("app", "=", frozenset({"web"}))]),
        ("app != web", [Requirement("app", "!=", frozenset({"web"}))]),
        ("env in (a, b)", [Requirement("env", "in", frozenset({"a", "b"}))]),
        ("env notin (a,b)", [Requirement("env", "notin", frozenset({"a", "b"}))]),
        ("release", [Requirement("release", "exists")]),
        ("!legacy", [Requirement("legacy", "!exists")]),
        ("app.kubernetes.io/name=park", [Requirement("app.kubernetes.io/name", "=", frozenset({"park"}))]),
        ("app=", [Requirement("app", "=", frozenset({""}))]),
        (
            "app=web,tier!=db,env in (a,b),!legacy,release",
            [
                Requirement("app", "=", frozenset({"web"})),
                Requirement("tier", "!=", frozenset({"db"})),
                Requirement("env", "in", frozenset({"a", "b"})),
                Requirement("legacy", "!exists"),
                Requirement("release", "exists"),
            ],
        ),
    ],
)
def test_valid_selectors(text: str, requirements: list[Requirement]) -> None:
    assert parse_selector(text) == LabelSelector(tuple(requirements))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("env in a,b", "values must be in parentheses"),
        ("env notin (a", "values must be in parentheses"),
        ("=web", "is not a label key"),
        ("!", "is not a label key"),
        ("my app=web", "is not a label key"),
    ],
)
def test_invalid_selectors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidError, match=message):
        parse_selector(text)


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app!=web", {}, True),  # absent is "not equal", as in Kubernetes
        ("env in (a,b)", {"env": "b"}, True),
        ("env notin (a,b)", {"env": "c"}, True),
        ("env notin (a,b)", {}, True),
        ("release", {"release": ""}, True),
        ("!legacy", {"legacy": "yes"}, False),
        ("app=web,!legacy", {"app": "web"}, True),
    ],
)
def test_matching(text: str, labels: dict[str, str], matches: bool) -> None:
    selector = parse_selector(text)
    assert selector is not None
    assert selector.matches(labels) is matches
