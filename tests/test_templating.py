"""PEP 222's dictionary classes, asyncweb.templating's NoKeyErrors and PartialStringSubstitution."""

from asyncweb import NoKeyErrors, PartialStringSubstitution


def test_no_key_errors_gives_empty_strings() -> None:
    values = NoKeyErrors(a=1)
    assert values["missing"] == ""
    assert "%(a)s-%(b)s" % values == "1-"
    assert "{a}-{b}".format_map(values) == "1-"


def test_partial_substitution_keeps_unknown_placeholders() -> None:
    values = PartialStringSubstitution(a=1)
    assert "%(a)s %(b)s" % values == "1 %(b)s"
    assert "{a} {b} {c:>4}".format_map(values) == "1 {b} {c:>4}"


def test_partial_substitution_fills_a_template_in_two_passes() -> None:
    template = "%(greeting)s, %(name)s!"
    first = template % PartialStringSubstitution(greeting="Hello")
    assert first % PartialStringSubstitution(name="PEP 222") == "Hello, PEP 222!"
