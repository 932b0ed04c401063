"""The device-filter language of `--device-filter` and `bgharness devices --filter` (no eval).

    expr:     and_expr ('or' and_expr)*
    and_expr: not_expr ('and' not_expr)*
    not_expr: 'not' not_expr | '(' expr ')' | FIELD OP VALUE | WORD
    FIELD:    backend | host | ios | model | name        OP: == != < <= > >= (ordering: ios only)
    VALUE:    WORD | "string" | 'string'          WORD: [A-Za-z0-9._-]+

A WORD alone is true when it is one of the device's tags, its backend or its name. `ios`
compares versions numerically ("17" == "17.0" < "17.4"); a device without the field never
matches a comparison.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple, NoReturn

from harness.core.errors import UsageError
from harness.core.versions import is_version, version_key
from harness.data.inventory import _KEYWORDS, DeviceRecord

__all__ = ["Match", "parse_filter"]

Match = Callable[[DeviceRecord], bool]

_FIELDS = ("backend", "host", "ios", "model", "name")
_OPS: dict[str, Callable[[object, object], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}
_TOKEN = re.compile(
    r"""\s*(?:(?P<op>==|!=|<=|>=|<|>)|(?P<paren>[()])|(?P<string>"[^"]*"|'[^']*')"""
    r"""|(?P<word>[A-Za-z0-9._-]+)|(?P<bad>\S))"""
)


class _Token(NamedTuple):
    kind: str  # op, paren, string, word, keyword, end
    text: str
    column: int  # 1-based


def parse_filter(expr: str) -> Match:
    """Compile a device filter (grammar in the module docstring); UsageError names the column."""
    return _FilterParser(expr).parse()


class _FilterParser:
    """Recursive descent over the tokens; builds closures, never evaluates user text."""

    def __init__(self, expr: str):
        self.expr = expr
        self.tokens = self.lex(expr)
        self.at = 0

    def fail(self, column: int, problem: str) -> NoReturn:
        raise UsageError(f"device filter {self.expr!r}: column {column}: {problem}")

    def lex(self, expr: str) -> list[_Token]:
        tokens: list[_Token] = []
        for found in _TOKEN.finditer(expr.rstrip()):
            kind = found.lastgroup or "bad"
            text, column = found.group(kind), found.start(kind) + 1
            if kind == "bad":
                problem = (
                    "the closing quote is missing" if text in "'\"" else f"unexpected {text!r}"
                )
                self.fail(column, problem)
            if kind == "word" and text in _KEYWORDS:
                kind = "keyword"
            tokens.append(_Token(kind, text, column))
        tokens.append(_Token("end", "", len(expr.rstrip()) + 1))
        return tokens

    @property
    def current(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += token.kind != "end"
        return token

    def parse(self) -> Match:
        match = self.either()
        if self.current.kind != "end":
            self.fail(
                self.current.column, f"expected 'and', 'or' or the end, got {self.current.text!r}"
            )
        return match

    def either(self) -> Match:
        terms = [self.both()]
        while self.current.text == "or" and self.current.kind == "keyword":
            self.take()
            terms.append(self.both())
        return terms[0] if len(terms) == 1 else lambda d: any(term(d) for term in terms)

    def both(self) -> Match:
        terms = [self.negation()]
        while self.current.text == "and" and self.current.kind == "keyword":
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else lambda d: all(term(d) for term in terms)

    def negation(self) -> Match:
        token = self.take()
        if token.kind == "keyword" and token.text == "not":
            inner = self.negation()
            return lambda d: not inner(d)
        if token.text == "(":
            inner = self.either()
            closing = self.take()
            if closing.text != ")":
                got = repr(closing.text) if closing.text else "the end"
                self.fail(closing.column, f"expected ')', got {got}")
            return inner
        if token.kind != "word":
            got = repr(token.text) if token.text else "the end"
            self.fail(
                token.column, f"expected a tag, backend, device name, 'not' or '(', got {got}"
            )
        if self.current.kind == "op":
            return self.comparison(token)
        word = token.text
        return lambda d: word in d.tags or word == d.backend or word == d.name

    def comparison(self, field: _Token) -> Match:
        op, value = self.take(), self.take()
        if field.text not in _FIELDS:
            self.fail(
                field.column, f"{field.text!r} cannot be compared; fields: {', '.join(_FIELDS)}"
            )
        if value.kind not in ("word", "string"):
            got = repr(value.text) if value.text else "the end"
            self.fail(value.column, f"expected a value after {op.text}, got {got}")
        text = value.text.strip("'\"") if value.kind == "string" else value.text
        compare, name = _OPS[op.text], field.text
        if name != "ios":
            if op.text not in ("==", "!="):
                self.fail(op.column, f"{name} compares only with == and !=")
            return lambda d: getattr(d, name) is not None and compare(getattr(d, name), text)
        if not is_version(text):
            self.fail(
                value.column, f'ios compares with a version like "17" or "17.4", got {text!r}'
            )
        wanted = version_key(text)
        return lambda d: d.ios is not None and compare(version_key(d.ios), wanted)
