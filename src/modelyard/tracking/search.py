"""The run filter language, parsed by hand into SQLAlchemy expressions with bound parameters.

    metrics.auc > 0.9 and params.max_depth = '6'
    (tags.team = 'risk' or tags.team ILIKE 'fraud%') and attributes.status IN ('FINISHED')
    not metrics.loss >= 1e-3 and attributes.start_time > '2026-03-01'

Grammar (keywords are case-insensitive)::

    expr       := and_expr (OR and_expr)*
    and_expr   := unary (AND unary)*
    unary      := NOT unary | '(' expr ')' | comparison
    comparison := ident op value
                | ident [NOT] IN '(' value (',' value)* ')'
                | ident [NOT] (LIKE | ILIKE) string
                | ident IS [NOT] NULL
    ident      := (metrics|params|tags|attributes) '.' (name | `quoted name` | "quoted name")
    op         := = | != | <> | < | <= | > | >=

A comparison is true or false for every run, never unknown: a run without the metric, param or
tag (or with a NaN metric, or a NULL attribute) fails the comparison, so it is left out, as in
MLflow (``!=`` on a NaN metric is true, as for floats). ``NOT`` negates that. LIKE is
case-sensitive on every backend (``%`` any text, ``_`` one character, ``\\`` escapes), ILIKE
is not. ``attributes.status`` compares case-insensitively (``'finished'`` is ``FINISHED``) and
a value that is no run status is an error listing the valid ones. Params and tags compare as
text (a bare number is taken as its text); metrics as numbers; ``attributes.start_time`` and
``end_time`` as epoch milliseconds or ISO-8601 text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from ..clock import parse_time
from ..errors import FilterSyntaxError, InvalidParameter
from .entities import RUN_STATUSES

__all__ = [
    "And",
    "Comparison",
    "Not",
    "Or",
    "OrderKey",
    "SearchTables",
    "compile_filter",
    "compile_order_by",
    "like_to_regex",
    "parse_filter",
    "parse_order_by",
]

_ENTITY_ALIASES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": "attributes",
    "attributes": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
_ATTRIBUTE_ALIASES = {
    "status": "status",
    "name": "name",
    "run_name": "name",
    "run_id": "id",
    "id": "id",
    "start_time": "start_time",
    "end_time": "end_time",
    "user": "user",
    "code_commit": "code_commit",
}
_TIME_ATTRIBUTES = {"start_time", "end_time"}
_COMPARATORS = ("=", "!=", "<", "<=", ">", ">=")
_TEXT_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "NOT LIKE", "NOT ILIKE"}
_NUMBER_OPS = {"=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"}
_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"}
_IDENT_START = re.compile(r"[A-Za-z_]")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_.\-/:]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_EXPECTED_IDENT = (
    "an identifier such as metrics.<key>, params.<key>, tags.<key> or attributes.<name>"
)


# ---- tokens ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # IDENT KEYWORD STRING NUMBER OP LPAREN RPAREN COMMA END
    value: str
    pos: int
    text: str  # the source text of the token, for error messages


def _error(source: str, token: _Token, expected: str, what: str = "filter") -> FilterSyntaxError:
    if token.kind == "END":
        head = f"Unexpected end of {what} at position {token.pos}"
    else:
        head = f"Unexpected token {token.text!r} at position {token.pos}"
    return FilterSyntaxError(f"{head} in {what} {source!r}; expected {expected}.", field=what)


def _tokenize(source: str, what: str = "filter") -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "'\"":
            value, i = _read_quoted(source, i, what)
            tokens.append(_Token("STRING", value, start, source[start:i]))
        elif ch == "(":
            tokens.append(_Token("LPAREN", ch, start, ch))
            i += 1
        elif ch == ")":
            tokens.append(_Token("RPAREN", ch, start, ch))
            i += 1
        elif ch == ",":
            tokens.append(_Token("COMMA", ch, start, ch))
            i += 1
        elif ch in "=!<>":
            two = source[i : i + 2]
            if two in ("!=", "<=", ">=", "<>", "=="):
                op = {"<>": "!=", "==": "="}.get(two, two)
                tokens.append(_Token("OP", op, start, two))
                i += 2
            elif ch == "!":
                raise FilterSyntaxError(
                    f"Unexpected character '!' at position {start} in {what} {source!r}; "
                    "expected '!='.",
                    field=what,
                )
            else:
                tokens.append(_Token("OP", ch, start, ch))
                i += 1
        elif ch.isdigit() or (ch in "+-." and i + 1 < n and (source[i + 1].isdigit() or source[i + 1] == ".")):
            m = _NUMBER.match(source, i)
            if m is None or m.end() == i:
                raise FilterSyntaxError(
                    f"Unexpected character {ch!r} at position {start} in {what} {source!r}; "
                    "expected a number.",
                    field=what,
                )
            i = m.end()
            tokens.append(_Token("NUMBER", m.group(), start, m.group()))
        elif _IDENT_START.match(ch):
            while i < n and _IDENT_CHAR.match(source[i]):
                i += 1
            word = source[start:i]
            if word.endswith(".") and i < n and source[i] in "`\"":
                key, i = _read_quoted(source, i, what)
                tokens.append(_Token("IDENT", word + key, start, source[start:i]))
            elif "." not in word and word.upper() in _KEYWORDS:
                tokens.append(_Token("KEYWORD", word.upper(), start, word))
            else:
                tokens.append(_Token("IDENT", word, start, word))
        else:
            raise FilterSyntaxError(
                f"Unexpected character {ch!r} at position {start} in {what} {source!r}; "
                f"expected {_EXPECTED_IDENT}, a value or an operator.",
                field=what,
            )
    tokens.append(_Token("END", "", n, ""))
    return tokens


def _read_quoted(source: str, i: int, what: str) -> tuple[str, int]:
    """Read a quoted string at ``i``; a doubled quote or a backslash escapes the quote."""
    quote = source[i]
    out: list[str] = []
    j = i + 1
    while j < len(source):
        ch = source[j]
        if ch == "\\" and j + 1 < len(source) and source[j + 1] == quote:
            out.append(quote)
            j += 2
        elif ch == quote:
            if j + 1 < len(source) and source[j + 1] == quote:
                out.append(quote)
                j += 2
            else:
                return "".join(out), j + 1
        else:
            out.append(ch)
            j += 1
    raise FilterSyntaxError(
        f"Unterminated string starting at position {i} in {what} {source!r}; "
        f"expected a closing {quote}.",
        field=what,
    )


# ---- syntax tree -------------------------------------------------------------------------
Value = str | float | tuple[str | float, ...] | None


@dataclass(frozen=True)
class Comparison:
    """``entity.key op value``; entity is metrics, params, tags or attributes."""

    entity: str
    key: str
    op: str  # = != < <= > >= LIKE ILIKE NOT LIKE NOT ILIKE IN NOT IN IS NULL IS NOT NULL
    value: Value


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | And | Or | Not


class _Parser:
    def __init__(self, source: str, what: str = "filter") -> None:
        self.source = source
        self.what = what
        self.tokens = _tokenize(source, what)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, expected: str, token: _Token | None = None) -> FilterSyntaxError:
        return _error(self.source, token or self.tok, expected, self.what)

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "KEYWORD" and self.tok.value in words

    # expr := and_expr (OR and_expr)*
    def expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_kw("OR"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self.is_kw("AND"):
            self.advance()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        if self.is_kw("NOT"):
            self.advance()
            return Not(self.unary())
        if self.tok.kind == "LPAREN":
            self.advance()
            node = self.expr()
            if self.tok.kind != "RPAREN":
                raise self.fail("')' or AND/OR")
            self.advance()
            return node
        return self.comparison()

    def identifier(self) -> tuple[str, str]:
        tok = self.tok
        if tok.kind != "IDENT":
            raise self.fail(_EXPECTED_IDENT)
        prefix, dot, key = tok.value.partition(".")
        entity = _ENTITY_ALIASES.get(prefix.lower())
        if not dot or entity is None or not key:
            raise self.fail(_EXPECTED_IDENT)
        if entity == "attributes":
            name = _ATTRIBUTE_ALIASES.get(key.lower())
            if name is None:
                names = ", ".join(f"attributes.{a}" for a in sorted(set(_ATTRIBUTE_ALIASES)))
                raise self.fail(f"one of {names}")
            key = name
        self.advance()
        return entity, key

    def comparison(self) -> Comparison:
        entity, key = self.identifier()
        tok = self.tok
        if tok.kind == "OP":
            self.advance()
            return self.checked(entity, key, tok.value, self.scalar(), tok)
        negate = False
        if self.is_kw("IS"):
            self.advance()
            if self.is_kw("NOT"):
                self.advance()
                negate = True
            if not self.is_kw("NULL"):
                raise self.fail("NULL")
            self.advance()
            return Comparison(entity, key, "IS NOT NULL" if negate else "IS NULL", None)
        if self.is_kw("NOT"):
            self.advance()
            negate = True
            if not self.is_kw("IN", "LIKE", "ILIKE"):
                raise self.fail("IN, LIKE or ILIKE after NOT")
        if self.is_kw("IN"):
            op_tok = self.advance()
            if self.tok.kind != "LPAREN":
                raise self.fail("'(' to start the list of values")
            self.advance()
            values = [self.scalar()]
            while self.tok.kind == "COMMA":
                self.advance()
                values.append(self.scalar())
            if self.tok.kind != "RPAREN":
                raise self.fail("',' or ')'")
            self.advance()
            return self.checked(entity, key, "NOT IN" if negate else "IN", tuple(values), op_tok)
        if self.is_kw("LIKE", "ILIKE"):
            op_tok = self.advance()
            if self.tok.kind != "STRING":
                raise self.fail("a quoted pattern such as 'abc%'")
            pattern = self.advance().value
            op = ("NOT " if negate else "") + op_tok.value
            return self.checked(entity, key, op, pattern, op_tok)
        raise self.fail("a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)")

    def scalar(self) -> str | float:
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return tok.value
        if tok.kind == "NUMBER":
            self.advance()
            return _Number(tok.value)
        raise self.fail("a value: a number or a quoted string")

    def checked(self, entity: str, key: str, op: str, value: Value, op_tok: _Token) -> Comparison:
        numeric = entity == "metrics" or (entity == "attributes" and key in _TIME_ATTRIBUTES)
        allowed = _NUMBER_OPS if numeric else _TEXT_OPS
        if op not in allowed:
            kinds = "a number" if numeric else "text"
            ops = ", ".join(o for o in ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN")
                            if o in allowed)
            raise self.fail(f"an operator for {kinds} ({ops})", op_tok)
        values = value if isinstance(value, tuple) else (value,)
        out: list[str | float] = []
        for v in values:
            if entity == "metrics":
                if not isinstance(v, _Number):
                    raise _error(self.source, self._token_of(v, op_tok), "a number", self.what)
                out.append(float(v))
            elif numeric:  # start_time / end_time: epoch ms or ISO text
                if isinstance(v, _Number):
                    out.append(float(v))
                else:
                    try:
                        out.append(float(int(parse_time(v).timestamp() * 1000)))
                    except InvalidParameter:
                        raise _error(self.source, self._token_of(v, op_tok),
                                     "epoch milliseconds or an ISO-8601 time", self.what) from None
            elif entity == "attributes" and key == "status":
                out.append(self.status(str(v), op, op_tok))
            else:
                out.append(str(v))
        final: Value = tuple(out) if isinstance(value, tuple) else out[0]
        return Comparison(entity, key, op, final)

    def status(self, value: str, op: str, op_tok: _Token) -> str:
        """Statuses compare case-insensitively: ``'finished'`` is ``FINISHED``; a value that
        is no status (or a pattern that matches none) lists the valid ones."""
        upper = value.upper()
        known = (any(re.fullmatch(like_to_regex(upper), s) for s in RUN_STATUSES)
                 if op.endswith("LIKE") else upper in RUN_STATUSES)
        if not known:
            raise _error(self.source, self._token_of(value, op_tok),
                         f"a run status: one of {', '.join(RUN_STATUSES)} (any case)", self.what)
        return upper

    def _token_of(self, value: object, fallback: _Token) -> _Token:
        for tok in self.tokens[: self.i][::-1]:
            if tok.kind in ("STRING", "NUMBER") and (tok.value == value or tok.value == str(value)):
                return tok
        return fallback


class _Number(str):
    """A number literal kept as its text (params compare it as text, metrics as float)."""


@lru_cache(maxsize=512)
def parse_filter(source: str) -> Node | None:
    """Parse a filter; None for an empty one. Raises FilterSyntaxError pointing at the token."""
    if not isinstance(source, str):
        raise InvalidParameter(f"filter must be a string. Got {source!r} instead.", field="filter")
    if not source.strip():
        return None
    parser = _Parser(source)
    node = parser.expr()
    if parser.tok.kind != "END":
        raise parser.fail("AND, OR or the end of the filter")
    return node


@dataclass(frozen=True)
class OrderKey:
    entity: str
    key: str
    descending: bool


def parse_order_by(items: Sequence[str] | str | None) -> list[OrderKey]:
    """Parse ``["metrics.auc DESC", "attributes.start_time"]``; one string is one key."""
    out = []
    if isinstance(items, str):
        items = [items]
    for item in items or ():
        if not isinstance(item, str):
            raise InvalidParameter(
                f"order_by must be a list of strings such as 'metrics.auc DESC'. Got {item!r}.",
                field="order_by",
            )
        parser = _Parser(item, "order_by")
        entity, key = parser.identifier()
        descending = False
        if parser.is_kw("ASC", "DESC"):
            descending = parser.advance().value == "DESC"
        if parser.tok.kind != "END":
            raise parser.fail("ASC, DESC or the end of the order_by entry")
        out.append(OrderKey(entity, key, descending))
    return out


# ---- SQL -------------------------------------------------------------------------------------
def like_to_regex(pattern: str) -> str:
    """The regular expression matching what a LIKE ``pattern`` matches (``\\`` escapes)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return "^" + "".join(out) + "$"


def _like_to_glob(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(f"[{nxt}]" if nxt in "*?[" else nxt)
            i += 2
            continue
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class SearchTables:
    """The tables a filter reads: runs, and params, tags, latest metrics keyed by run."""

    def __init__(self, runs: sa.Table, params: sa.Table, tags: sa.Table, latest: sa.Table) -> None:
        self.runs, self.params, self.tags, self.latest = runs, params, tags, latest


def _text_condition(col: Any, op: str, value: Value, dialect: str) -> Any:
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op in ("IN", "NOT IN"):
        cond = col.in_(list(value))  # type: ignore[arg-type]
        return sa.not_(cond) if op == "NOT IN" else cond
    negate = op.startswith("NOT ")
    base = op.removeprefix("NOT ")
    if base == "LIKE":
        cond = (col.op("GLOB")(_like_to_glob(str(value))) if dialect == "sqlite"
                else col.like(str(value), escape="\\"))
    else:
        cond = col.ilike(str(value), escape="\\")
    return sa.not_(cond) if negate else cond


def _number_condition(col: Any, op: str, value: Value, nan_is_null: bool) -> Any:
    ops = {"=": col.__eq__, "<": col.__lt__, "<=": col.__le__, ">": col.__gt__, ">=": col.__ge__}
    if op in ops:
        return sa.and_(col.is_not(None), ops[op](value))
    if op == "!=":
        return sa.or_(col.is_(None), col != value) if nan_is_null else sa.and_(
            col.is_not(None), col != value)
    cond = col.in_(list(value))  # type: ignore[arg-type]
    if op == "NOT IN":
        return sa.or_(col.is_(None), sa.not_(cond)) if nan_is_null else sa.and_(
            col.is_not(None), sa.not_(cond))
    return sa.and_(col.is_not(None), cond)


def _compile(node: Node, t: SearchTables, dialect: str) -> Any:
    if isinstance(node, And):
        return sa.and_(*(_compile(n, t, dialect) for n in node.items))
    if isinstance(node, Or):
        return sa.or_(*(_compile(n, t, dialect) for n in node.items))
    if isinstance(node, Not):
        return sa.not_(_compile(node.item, t, dialect))
    c = node
    if c.entity == "attributes":
        col = t.runs.c[c.key]
        if c.op in ("IS NULL", "IS NOT NULL"):
            return col.is_(None) if c.op == "IS NULL" else col.is_not(None)
        if c.key in _TIME_ATTRIBUTES:
            value: Value = (tuple(int(v) for v in c.value)  # type: ignore[union-attr, arg-type]
                            if isinstance(c.value, tuple) else int(c.value))  # type: ignore[arg-type]
            return _number_condition(col, c.op, value, nan_is_null=False)
        return sa.and_(col.is_not(None), _text_condition(col, c.op, c.value, dialect))
    table = {"metrics": t.latest, "params": t.params, "tags": t.tags}[c.entity]
    where = [table.c.run_id == t.runs.c.id, table.c.key == c.key]
    if c.op == "IS NULL":
        return ~sa.exists().where(*where)
    if c.op != "IS NOT NULL":
        if c.entity == "metrics":
            where.append(_number_condition(table.c.value, c.op, c.value, nan_is_null=True))
        else:
            where.append(_text_condition(table.c.value, c.op, c.value, dialect))
    return sa.exists().where(*where)


def compile_filter(node: Node | None, tables: SearchTables, dialect: str) -> Any:
    """The WHERE clause (over ``tables.runs``) for a parsed filter; None for no filter."""
    return None if node is None else _compile(node, tables, dialect)


def compile_order_by(keys: Sequence[OrderKey], t: SearchTables) -> list[Any]:
    """ORDER BY clauses; runs missing the key sort last either way; ties by start time, id."""
    clauses: list[Any] = []
    for k in keys:
        if k.entity == "attributes":
            expr: Any = t.runs.c[k.key]
        else:
            table = {"metrics": t.latest, "params": t.params, "tags": t.tags}[k.entity]
            expr = (
                sa.select(table.c.value)
                .where(table.c.run_id == t.runs.c.id, table.c.key == k.key)
                .scalar_subquery()
            )
        clauses.append((expr.desc() if k.descending else expr.asc()).nulls_last())
    clauses.extend([t.runs.c.start_time.desc(), t.runs.c.id.desc()])
    return clauses
