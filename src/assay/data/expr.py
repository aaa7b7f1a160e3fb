"""A small, safe expression language for row filters and slice definitions.

Recipes hold conditions such as ``"AGEP >= 16 and RAC1P != 9"`` or
``"lang in ('es', 'pt')"``. ``parse`` tokenizes and parses them with a hand-written
Pratt parser into an immutable AST (frozen dataclasses). The text is never evaluated
and never pasted into SQL: ``Expr.to_ibis`` builds Ibis expressions node by node,
checking column names and operand types against the table first.

Grammar (keywords are case-insensitive; tightest binding last)::

    or  <  and  <  not  <  comparison  <  + -  <  * / %  <  unary -

    comparison := value ( = | == | != | <> | < | <= | > | >= ) value
                | value [not] in ( literal, ... )
                | value [not] between value and value
                | value is [not] null
    literal    := 12 | 1.5 | 1e3 | 'text' | "text" | true | false | null
    column     := name | `any name`

Comparisons do not chain (``a < b < c`` is an error), and ``not`` inside a
comparison or arithmetic needs parentheses. ``in`` lists hold literals only.
Semantics are SQL's: comparisons with null are null (so the row is dropped), ``/``
is true division, and ``x % 0`` is null. Comparing with a ``null`` literal (``x = null``, ``x in (1,
null)``) is refused, since it is never true; the message suggests ``x is null``. A
quoted string compared with a date/time column is read as a date/time.

``Expr.canonical`` prints lower-case keywords, single spaces, ``=`` and ``!=`` for
the other spellings, single-quoted strings, ``repr`` of numbers (``1e3`` becomes
``1000.0``), backquotes only where a name needs them, and only the parentheses the
precedence requires. ``and``/``or`` chains are flattened (they are associative), but
arithmetic keeps its grouping: ``a - (b - c)`` stays as written.

Limits: an expression nests at most 100 levels (parentheses, ``not``, ``-`` and chained
arithmetic count; an ``and``/``or`` chain of any length is one level), so no step over
the tree can run out of stack. An ``in`` list of more than ``IN_LIST_JOIN`` (1,000)
values is matched as a join against an in-memory table of them, with the same meaning
as a short list. Error messages show at most 100 characters of the text, around the
offending token.
"""

from __future__ import annotations

import difflib
import functools
import math
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from assay.errors import ExpressionError, shorten

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

__all__ = [
    "And",
    "Arith",
    "Between",
    "Column",
    "Compare",
    "Expr",
    "In",
    "IsNull",
    "Literal",
    "Neg",
    "Not",
    "Or",
    "parse",
]

KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null", "true", "false"})
COMPARISON_OPS = ("=", "!=", "<", "<=", ">", ">=")
ARITHMETIC_OPS = ("+", "-", "*", "/", "%")

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT_HINT = ": integers must fit in 64 bits; write a float such as 1e20 instead"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DIGITS = "0123456789"
# Two-character operators first, so "<=" is not read as "<" then "=".
_SYMBOLS = ("==", "!=", "<>", "<=", ">=", *"=<>+-*/%(),")
_SYMBOL = re.compile("|".join(map(re.escape, _SYMBOLS)))
_SPACE = re.compile(r"\s+")
# The common tokens in one match: a well-formed number, a name or an operator other
# than '-' and '/' (which may start a comment). Anything else, errors included, takes
# the character-by-character path.
_PLAIN = re.compile(
    r"\s*(?:(?P<num>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_.])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>==|!=|<>|<=|>=|[=<>+*%(),]))"
)
_SPELLINGS = {"==": "=", "<>": "!="}
_CHAR_HINTS = {
    ";": "only one expression is allowed, not SQL statements",
    "!": "did you mean '!='?",
    "&": "use 'and'",
    "|": "use 'or'",
}

_E = TypeVar("_E", bound="Expr")

# Binding powers of the Pratt parser, also used to decide where canonical text
# needs parentheses.
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _NEG, _ATOM = range(1, 9)


@dataclass(frozen=True)
class _Source:
    text: str
    context: str


# How much of the expression an error message shows (around the offending token),
# and of a part of it (a token, a sub-expression) that a message names.
_SHOWN, _SHOWN_PART = 100, 60


def _brief(node: Expr) -> str:
    """``node``'s text as a message names it: shortened when long."""
    return shorten(_render(node), _SHOWN_PART)


def _quoted(text: str) -> str:
    """A token or name as a message names it: in single quotes, shortened when long."""
    return shorten(text, _SHOWN_PART, quote="'")


def _fail(src: _Source, what: str, pos: int | None, hint: str = "") -> NoReturn:
    at = "" if pos is None else f" at column {pos + 1}"
    one_line = re.sub(r"\s", " ", src.text)  # one line, and columns still line up
    shown = shorten(one_line, _SHOWN, around=pos, quote='"')
    raise ExpressionError(
        f"{src.context}: {what}{at} in {shown}{hint}", text=src.text, position=pos
    )


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Expr:
    """Base of the AST nodes; equality ignores source positions."""

    pos: int | None = field(default=None, kw_only=True, compare=False, repr=False)
    src: _Source | None = field(default=None, kw_only=True, compare=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        """The direct sub-expressions, in text order."""
        return ()

    def walk(self) -> Iterator[Expr]:
        """This node and every node below it, depth first in text order."""
        stack: list[Expr] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))

    @property
    def columns(self) -> frozenset[str]:
        """Every column the expression references."""
        return frozenset(n.name for n in self.walk() if isinstance(n, Column))

    @property
    def joins(self) -> bool:
        """Whether engines evaluate it with a join: an ``in`` list longer than
        ``IN_LIST_JOIN`` (a lookup table). A join streams one file's scan in order, but
        not necessarily the rows of several files scanned in one query."""
        return any(isinstance(n, In) and len(n.values) > IN_LIST_JOIN for n in self.walk())

    def canonical(self) -> str:
        """Normalised text that parses back to an equal expression."""
        return _render(self)

    def to_ibis(self, table: ibis.Table) -> ir.Value:
        """Build the Ibis value of this expression over ``table``."""
        return _Binder(table, self).build()

    def predicate(self, table: ibis.Table) -> ir.BooleanValue:
        """Like ``to_ibis``, but the result must be a condition usable in a filter."""
        value = self.to_ibis(table)
        if not value.type().is_boolean():
            src = self.src or _Source(self.canonical(), "expression")
            shown = shorten(" ".join(src.text.split()), _SHOWN)
            example = f"{shown} {_example_comparison(_kind(value.type()))}"
            raise ExpressionError(
                f'{src.context}: "{shown}" is not a condition; compare it with '
                f'something, e.g. "{example}"',
                text=src.text,
                position=len(src.text) - len(src.text.lstrip()),
            )
        return value

    def __str__(self) -> str:
        return self.canonical()


@dataclass(frozen=True)
class Column(Expr):
    """A reference to a column by name."""

    name: str


@dataclass(frozen=True)
class Literal(Expr):
    """A constant: int, float, str, bool or None (SQL null)."""

    value: int | float | str | bool | None
    # Keeps Literal(1), Literal(1.0) and Literal(True) apart, as Python's == would not.
    _type: type = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.value, (int, float, str, bool, type(None))):
            raise TypeError(f"unsupported literal {self.value!r}")
        object.__setattr__(self, "_type", type(self.value))


@dataclass(frozen=True)
class Neg(Expr):
    """Unary minus."""

    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        """The negated value."""
        return (self.operand,)


@dataclass(frozen=True)
class Arith(Expr):
    """Binary arithmetic: ``+ - * / %``."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in ARITHMETIC_OPS:
            raise ValueError(f"unknown arithmetic operator {self.op!r}")

    def children(self) -> tuple[Expr, ...]:
        """Both operands."""
        return (self.left, self.right)


@dataclass(frozen=True)
class Compare(Expr):
    """A comparison; ``op`` is one of ``= != < <= > >=``."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", _SPELLINGS.get(self.op, self.op))
        if self.op not in COMPARISON_OPS:
            raise ValueError(f"unknown comparison operator {self.op!r}")

    def children(self) -> tuple[Expr, ...]:
        """Both operands."""
        return (self.left, self.right)


@dataclass(frozen=True)
class In(Expr):
    """``operand [not] in (values...)``."""

    operand: Expr
    values: tuple[Literal, ...]
    negated: bool = False

    def children(self) -> tuple[Expr, ...]:
        """The tested value, then the list."""
        return (self.operand, *self.values)


@dataclass(frozen=True)
class Between(Expr):
    """``operand [not] between low and high`` (bounds inclusive)."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False

    def children(self) -> tuple[Expr, ...]:
        """The tested value and both bounds."""
        return (self.operand, self.low, self.high)


@dataclass(frozen=True)
class IsNull(Expr):
    """``operand is [not] null``."""

    operand: Expr
    negated: bool = False

    def children(self) -> tuple[Expr, ...]:
        """The tested value."""
        return (self.operand,)


@dataclass(frozen=True)
class Not(Expr):
    """Boolean negation."""

    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        """The negated condition."""
        return (self.operand,)


def _flatten(node: Expr, kind: type[And | Or]) -> None:
    # and/or are associative, so nesting is normalised away: "(a and b) and c",
    # "a and (b and c)" and "a and b and c" are one expression.
    operands = node.operands  # type: ignore[attr-defined]
    if len(operands) < 2:
        raise ValueError(f"{kind.__name__} needs at least two operands")
    flat: list[Expr] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else (operand,))
    object.__setattr__(node, "operands", tuple(flat))


@dataclass(frozen=True)
class And(Expr):
    """Conjunction of two or more conditions."""

    operands: tuple[Expr, ...]

    def __post_init__(self) -> None:
        _flatten(self, And)

    def children(self) -> tuple[Expr, ...]:
        """The conjuncts."""
        return self.operands


@dataclass(frozen=True)
class Or(Expr):
    """Disjunction of two or more conditions."""

    operands: tuple[Expr, ...]

    def __post_init__(self) -> None:
        _flatten(self, Or)

    def children(self) -> tuple[Expr, ...]:
        """The disjuncts."""
        return self.operands


# ------------------------------------------------------------------ canonical text


def _level(node: Expr) -> int:
    if isinstance(node, Or):
        return _OR
    if isinstance(node, And):
        return _AND
    if isinstance(node, Not):
        return _NOT
    if isinstance(node, Compare | In | Between | IsNull):
        return _CMP
    if isinstance(node, Arith):
        return _ADD if node.op in "+-" else _MUL
    if isinstance(node, Neg):
        return _NEG
    return _ATOM


def _wrap(node: Expr, parens: bool) -> str:
    text = _render(node)
    return f"({text})" if parens else text


def _quote_name(name: str) -> str:
    if _IDENT.fullmatch(name) and name.lower() not in KEYWORDS:
        return name
    return "`" + name.replace("`", "``") + "`"


def _render_literal(value: float | str | bool | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _render(node: Expr) -> str:
    if isinstance(node, Column):
        return _quote_name(node.name)
    if isinstance(node, Literal):
        return _render_literal(node.value)
    if isinstance(node, Neg):
        inner = _wrap(node.operand, _level(node.operand) < _NEG)
        if inner == "0":
            return "0"  # "-0" would read back as the literal 0, whose text is "0"
        # "--" would read as a comment, so "- -x" is written "-(-x)".
        return "-" + (f"({inner})" if inner.startswith("-") else inner)
    if isinstance(node, Arith):
        level = _level(node)
        left = _wrap(node.left, _level(node.left) < level)
        right = _wrap(node.right, _level(node.right) <= level)
        return f"{left} {node.op} {right}"
    if isinstance(node, Compare):
        left = _wrap(node.left, _level(node.left) <= _CMP)
        right = _wrap(node.right, _level(node.right) <= _CMP)
        return f"{left} {node.op} {right}"
    if isinstance(node, In):
        values = ", ".join(_render(v) for v in node.values)
        keyword = "not in" if node.negated else "in"
        return f"{_wrap(node.operand, _level(node.operand) <= _CMP)} {keyword} ({values})"
    if isinstance(node, Between):
        x, low, high = (_wrap(n, _level(n) <= _CMP) for n in node.children())
        keyword = "not between" if node.negated else "between"
        return f"{x} {keyword} {low} and {high}"
    if isinstance(node, IsNull):
        keyword = "is not null" if node.negated else "is null"
        return f"{_wrap(node.operand, _level(node.operand) <= _CMP)} {keyword}"
    if isinstance(node, Not):
        return "not " + _wrap(node.operand, _level(node.operand) < _NOT)
    if isinstance(node, And | Or):
        level = _level(node)
        joiner = " and " if isinstance(node, And) else " or "
        return joiner.join(_wrap(n, _level(n) <= level) for n in node.operands)
    raise TypeError(f"not an expression node: {node!r}")


# ---------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "str", "name", "kw", "op" or "end"
    value: Any  # number, string, column name, lower-case keyword or operator
    pos: int
    raw: str

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        if self.kind == "str":
            return shorten(self.raw, _SHOWN_PART)  # already quoted
        return _quoted(self.raw)

    def is_kw(self, *words: str) -> bool:
        return self.kind == "kw" and self.value in words

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.value in ops


def _scan_quoted(src: _Source, start: int, what: str) -> tuple[str, int]:
    """Read a quoted run starting at ``start``; a doubled quote stands for itself."""
    text, quote = src.text, src.text[start]
    parts, i = [], start + 1
    while True:
        end = text.find(quote, i)
        if end < 0:
            _fail(
                src,
                f"unterminated {what} starting",
                start,
                f": add the closing {quote}",
            )
        parts.append(text[i:end])
        if text.startswith(quote * 2, end):
            parts.append(quote)
            i = end + 2
        else:
            return "".join(parts), end + 1


def _number(src: _Source, raw: str, pos: int) -> int | float:
    if raw.isdigit():
        if len(raw.lstrip("0")) > 19:  # past 64 bits, and int() refuses 4,300+ digits
            _fail(src, f"integer {_quoted(raw)} is out of range", pos, _INT_HINT)
        return int(raw)
    value = float(raw)
    if math.isinf(value):
        _fail(src, f"number {_quoted(raw)} is too large", pos, ": floats go up to about 1.8e308")
    return value


def _tokenize(src: _Source) -> list[_Token]:
    text, tokens, i = src.text, [], 0
    while i < len(text):
        if plain := _PLAIN.match(text, i):
            kind = plain.lastgroup
            assert kind is not None  # one of the three groups matched
            raw = plain.group(kind)
            start = plain.start(kind)
            if kind == "num":
                tokens.append(_Token("num", _number(src, raw, start), start, raw))
            elif kind == "op":
                tokens.append(_Token("op", _SPELLINGS.get(raw, raw), start, raw))
            elif raw.lower() in KEYWORDS:
                tokens.append(_Token("kw", raw.lower(), start, raw))
            else:
                tokens.append(_Token("name", raw, start, raw))
            i = plain.end()
            continue
        ch = text[i]
        if ch.isspace():
            i = space.end() if (space := _SPACE.match(text, i)) else i + 1
        elif ch in "-/" and text.startswith(("--", "/*"), i):
            # Refused rather than read as "- -x": filters must not hide a SQL comment.
            _fail(
                src,
                f"unexpected '{text[i : i + 2]}'",
                i,
                ": SQL comments are not allowed; write a double minus as '- -x'",
            )
        elif ch in _DIGITS or (ch == "." and text[i + 1 : i + 2] in tuple(_DIGITS)):
            match = _NUMBER.match(text, i)
            assert match is not None
            end = match.end()
            while end < len(text) and (text[end].isalnum() or text[end] in "_."):
                end += 1
            raw = text[i:end]
            if end != match.end():
                _fail(
                    src,
                    f"invalid number {_quoted(raw)}",
                    i,
                    ": expected digits like 12, 1.5 or 1e3",
                )
            tokens.append(_Token("num", _number(src, raw, i), i, raw))
            i = end
        elif ch in "'\"":
            value_s, end = _scan_quoted(src, i, "string")
            tokens.append(_Token("str", value_s, i, text[i:end]))
            i = end
        elif ch == "`":
            name, end = _scan_quoted(src, i, "column name")
            if not name:
                _fail(src, "empty column name", i, ": put the name between the backquotes")
            tokens.append(_Token("name", name, i, text[i:end]))
            i = end
        elif match := _IDENT.match(text, i):
            word = match.group()
            kind = "kw" if word.lower() in KEYWORDS else "name"
            tokens.append(_Token(kind, word.lower() if kind == "kw" else word, i, word))
            i = match.end()
        else:
            found = _SYMBOL.match(text, i)
            if found is None:
                hint = _CHAR_HINTS.get(
                    ch, "write names with other characters in backquotes, e.g. `my col`"
                )
                _fail(src, f"unexpected character '{ch}'", i, f": {hint}")
            symbol = found.group()
            tokens.append(_Token("op", _SPELLINGS.get(symbol, symbol), i, symbol))
            i += len(symbol)
    tokens.append(_Token("end", None, len(text), ""))
    return tokens


# ------------------------------------------------------------------------- parser

# Deeper nesting is surely a mistake. The limit bounds every recursive step over the
# tree (the parser, canonical text, binding, and Ibis's and the engine's compilers),
# so none can end in a RecursionError. and/or chains are flat n-ary nodes, built and
# bound without recursion, so any number of terms is one level.
_MAX_DEPTH = 100
_TOO_DEEP = (
    f": use at most {_MAX_DEPTH} levels of parentheses, 'not', '-' and chained arithmetic "
    "(long chains of 'and'/'or' are fine; so is 'x in (...)' for many values)"
)


class _Parser:
    def __init__(self, text: str, context: str) -> None:
        self.src = _Source(text, context)
        self.tokens = _tokenize(self.src)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[min(self.i, len(self.tokens) - 1)]

    def next(self) -> _Token:
        token = self.peek()
        self.i += 1
        return token

    def unexpected(self, token: _Token, hint: str) -> NoReturn:
        _fail(self.src, f"unexpected {token.describe()}", token.pos, hint)

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            _fail(
                self.src,
                "empty expression",
                0,
                ': expected a condition such as "AGEP >= 16"',
            )
        node = self.expr(0)
        token = self.peek()
        if token.kind != "end":
            self.unexpected(
                token,
                ": expected an operator, 'and', 'or' or the end of the expression",
            )
        self.check_depth(node)
        return node

    def check_depth(self, root: Expr) -> None:
        # Chained arithmetic ("a + b + ... + z") nests without the parser recursing.
        stack = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > _MAX_DEPTH:
                _fail(self.src, "expression nested too deeply", _start(node), _TOO_DEEP)
            stack.extend((child, depth + 1) for child in node.children())

    def expr(self, min_bp: int) -> Expr:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            token = self.peek()
            _fail(self.src, "expression nested too deeply", token.pos, _TOO_DEEP)
        node = self.prefix(min_bp)
        while (bp := self.infix_bp(self.peek())) is not None and bp >= min_bp:
            node = self.infix(node, bp)
        self.depth -= 1
        return node

    @staticmethod
    def infix_bp(token: _Token) -> int | None:
        if token.is_kw("or"):
            return _OR
        if token.is_kw("and"):
            return _AND
        if token.is_kw("not", "in", "between", "is") or token.is_op(*COMPARISON_OPS):
            return _CMP
        if token.is_op("+", "-"):
            return _ADD
        if token.is_op("*", "/", "%"):
            return _MUL
        return None

    def node(self, cls: type[_E], *args: Any, pos: int) -> _E:
        return cls(*args, pos=pos, src=self.src)

    def literal(self, value: Any, token: _Token, raw: str | None = None) -> Literal:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if is_int and not _INT64_MIN <= value <= _INT64_MAX:
            _fail(
                self.src,
                f"integer {shorten(raw or token.raw, _SHOWN_PART)} is out of range",
                token.pos,
                _INT_HINT,
            )
        return self.node(Literal, value, pos=token.pos)

    def prefix(self, min_bp: int) -> Expr:
        token = self.next()
        if token.kind in ("num", "str"):
            return self.literal(token.value, token)
        if token.is_kw("true", "false", "null"):
            return self.literal({"true": True, "false": False}.get(token.value), token)
        if token.kind == "name":
            return self.node(Column, token.value, pos=token.pos)
        if token.is_op("("):
            inner = self.expr(0)
            closing = self.next()
            if not closing.is_op(")"):
                self.unexpected(
                    closing,
                    f": expected ')' to close the '(' at column {token.pos + 1}",
                )
            return inner
        if token.is_op("-"):
            if self.peek().kind == "num":
                number = self.next()
                return self.literal(-number.value, token, f"-{number.raw}")
            return self.node(Neg, self.expr(_NEG), pos=token.pos)
        if token.is_kw("not"):
            if min_bp > _NOT:
                self.unexpected(token, ": put 'not ...' in parentheses here, e.g. a = (not b)")
            return self.node(Not, self.expr(_NOT), pos=token.pos)
        self.unexpected(token, ": expected a column, a literal or '('")

    def infix(self, left: Expr, bp: int) -> Expr:
        token = self.next()
        if bp in (_OR, _AND):
            # The whole chain at once: one n-ary node, not a node per keyword.
            operands = [left, self.expr(bp + 1)]
            while self.peek().is_kw(token.value):
                self.next()
                operands.append(self.expr(bp + 1))
            return self.node(And if bp == _AND else Or, tuple(operands), pos=token.pos)
        if bp in (_ADD, _MUL):
            return self.node(Arith, token.value, left, self.expr(bp + 1), pos=token.pos)
        node = self.comparison(left, token)
        following = self.peek()
        if self.infix_bp(following) == _CMP:
            _fail(
                self.src,
                f"chained comparison {following.describe()}",
                following.pos,
                ": comparisons do not chain; combine them with 'and', e.g. a < b and b < c",
            )
        return node

    def comparison(self, left: Expr, token: _Token) -> Expr:
        negated = False
        if token.is_kw("not"):
            negated, token = True, self.next()
            if not token.is_kw("in", "between"):
                self.unexpected(token, ": expected 'in' or 'between' after 'not'")
        if token.is_kw("is"):
            negated = self.peek().is_kw("not")
            if negated:
                self.next()
            null = self.next()
            if not null.is_kw("null"):
                self.unexpected(null, ": expected 'null' or 'not null' after 'is'")
            return self.node(IsNull, left, negated, pos=token.pos)
        if token.is_kw("in"):
            return self.node(In, left, self.in_list(left), negated, pos=token.pos)
        if token.is_kw("between"):
            low = self.bound(left)
            keyword = self.next()
            if not keyword.is_kw("and"):
                self.unexpected(keyword, ": expected 'and' between the bounds of 'between'")
            high = self.bound(left)
            return self.node(Between, left, low, high, negated, pos=token.pos)
        right = self.expr(_CMP + 1)
        for side, other in ((left, right), (right, left)):
            self.reject_null(side, other)
        return self.node(Compare, token.value, left, right, pos=token.pos)

    def bound(self, operand: Expr) -> Expr:
        bound = self.expr(_CMP + 1)
        self.reject_null(bound, operand)
        return bound

    def reject_null(self, node: Expr, other: Expr) -> None:
        if isinstance(node, Literal) and node.value is None:
            hint = f'; to test for null write "{_brief(other)} is null"'
            _fail(self.src, "comparison with null", node.pos, f": it is never true{hint}")

    def in_list(self, operand: Expr) -> tuple[Literal, ...]:
        opening = self.next()
        if not opening.is_op("("):
            self.unexpected(opening, ": expected '(' after 'in', e.g. x in (1, 2)")
        values: list[Literal] = []
        while True:
            token = self.next()
            if token.is_op("-") and self.peek().kind == "num":
                number = self.next()
                values.append(self.literal(-number.value, token, f"-{number.raw}"))
            elif token.kind in ("num", "str"):
                values.append(self.literal(token.value, token))
            elif token.is_kw("true", "false"):
                values.append(self.literal(token.value == "true", token))
            elif token.is_kw("null"):
                _fail(
                    self.src,
                    "null in an 'in' list",
                    token.pos,
                    f': it never matches; write "{_brief(operand)} is null or ..." instead',
                )
            else:
                self.unexpected(token, ": expected a literal in the 'in' list")
            separator = self.next()
            if separator.is_op(")"):
                return tuple(values)
            if not separator.is_op(","):
                self.unexpected(separator, ": expected ',' or ')' in the 'in' list")


def parse(text: str, *, context: str = "expression") -> Expr:
    """Parse ``text`` into an expression; ``context`` labels error messages."""
    return _parse(text, context)


# A recipe's expressions are parsed where it is loaded, fingerprinted, scanned and
# summarised; the tree is immutable, so each text is parsed once (a 100,000-value
# 'in' list takes about a second).
@functools.lru_cache(maxsize=64)
def _parse(text: str, context: str) -> Expr:
    return _Parser(text, context).parse()


# ------------------------------------------------------------------------ binding


def _kind(dtype: Any) -> str:
    if dtype.is_null():
        return "null"
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_string():
        return "string"
    if dtype.is_temporal():
        return "date/time"
    return str(dtype)


def _example_comparison(kind: str) -> str:
    return {"number": "> 0", "string": "= 'value'"}.get(kind, "is not null")


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}


# An 'in' list longer than this is matched as a join against an in-memory table of
# its values rather than compiled into the query one literal at a time (for 100,000
# values on the ACS data: 58 s to build, compile and run before, about 1 s now).
IN_LIST_JOIN = 1000
_LITERAL_KINDS = {bool: "boolean", int: "number", float: "number", str: "string"}


def _balanced(combine: Callable[[Any, Any], Any], values: list[Any]) -> Any:
    """Fold ``values`` pairwise into a balanced tree, log2(n) deep: a left-to-right fold
    would be n deep, and Ibis's and SQL's compilers recurse once per level."""
    while len(values) > 1:
        paired = [combine(a, b) for a, b in zip(values[::2], values[1::2], strict=False)]
        values = paired + values[len(paired) * 2 :]
    return values[0]


def _start(node: Expr) -> int | None:
    positions = [n.pos for n in node.walk() if n.pos is not None]
    return min(positions) if positions else None


class _Binder:
    """Turns one expression into Ibis values over one table, checking as it goes."""

    def __init__(self, table: ibis.Table, root: Expr) -> None:
        import ibis  # parsing recipes should not pay for importing ibis

        self.ibis = ibis
        self.table = table
        self.root = root
        self.fallback = root.src or _Source(root.canonical(), "expression")

    def fail(self, node: Expr, what: str, hint: str, pos: int | None = None) -> NoReturn:
        if node.src is None:
            _fail(self.fallback, what, None, hint)
        _fail(node.src, what, node.pos if pos is None else pos, hint)

    def build(self) -> ir.Value:
        self.check_columns()
        return self.bind(self.root)

    def check_columns(self) -> None:
        known = list(self.table.columns)
        names = [n for n in self.root.walk() if isinstance(n, Column)]
        for node in sorted(names, key=lambda n: (n.pos is None, n.pos or 0)):
            if node.name in known:
                continue
            by_lower = {c.lower(): c for c in known}
            close = difflib.get_close_matches(node.name.lower(), list(by_lower), n=1)
            hint = ""
            if close:
                spelled = _quote_name(by_lower[close[0]])
                shown = spelled if spelled.startswith("`") else f"'{spelled}'"
                hint = f"; did you mean {shown}?"
            listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
            self.fail(node, f"unknown column {_quoted(node.name)}", f"{hint} (columns: {listed})")

    def describe(self, node: Expr, value: ir.Value) -> str:
        return f"{_brief(node)} ({_kind(value.type())})"

    def bind(self, node: Expr) -> ir.Value:
        method = getattr(self, f"bind_{type(node).__name__.lower()}")
        return method(node)

    def bind_column(self, node: Column) -> ir.Value:
        return self.table[node.name]

    def bind_literal(self, node: Literal) -> ir.Value:
        value, ibis = node.value, self.ibis
        if value is None:
            return ibis.null()
        kind = {bool: "boolean", int: "int64", float: "float64", str: "string"}[type(value)]
        return ibis.literal(value, type=kind)

    def number(self, node: Expr, op: str) -> ir.Value:
        value = self.bind(node)
        if _kind(value.type()) not in ("number", "null"):
            self.fail(
                node,
                f"'{op}' needs numbers, but {self.describe(node, value)} is not one",
                ": arithmetic works only on number columns and literals",
                pos=_start(node),
            )
        return value

    def bind_neg(self, node: Neg) -> ir.Value:
        value = self.number(node.operand, "-")
        return value if value.type().is_null() else -value

    def bind_arith(self, node: Arith) -> ir.Value:
        left = self.number(node.left, node.op)
        right = self.number(node.right, node.op)
        # Ibis has no arithmetic on an untyped null, so give it the other side's type.
        if left.type().is_null():
            left = self.ibis.null(right.type() if not right.type().is_null() else "float64")
        if right.type().is_null():
            right = self.ibis.null(left.type())
        if node.op == "%":
            # x % 0 is null: DuckDB would stop the query with an error (and Ibis, folding
            # a literal 0, raise ZeroDivisionError) on one row's value.
            right = right.nullif(0)
        return _ARITH[node.op](left, right)

    def condition(self, node: Expr, keyword: str) -> ir.Value:
        value = self.bind(node)
        if not value.type().is_boolean():
            example = f"{_brief(node)} {_example_comparison(_kind(value.type()))}"
            self.fail(
                node,
                f"'{keyword}' needs conditions, but {self.describe(node, value)} is not one",
                f': compare it with something, e.g. "{example}"',
                pos=_start(node),
            )
        return value

    def bind_not(self, node: Not) -> ir.Value:
        return ~self.condition(node.operand, "not")

    def bind_and(self, node: And) -> ir.Value:
        return _balanced(operator.and_, [self.condition(n, "and") for n in node.operands])

    def bind_or(self, node: Or) -> ir.Value:
        return _balanced(operator.or_, [self.condition(n, "or") for n in node.operands])

    def comparable(
        self,
        op: str,
        at: Expr,
        pairs: tuple[tuple[Expr, ir.Value, Expr, ir.Value], ...],
    ) -> None:
        for left_node, left, right_node, right in pairs:
            kinds = {_kind(left.type()), _kind(right.type())}
            if len(kinds) == 1 or "null" in kinds:
                continue
            hint = (
                ": compare like with like: numbers with numbers, text with quoted "
                "'text', dates with 'YYYY-MM-DD'"
            )
            for node, value in ((left_node, left), (right_node, right)):
                if isinstance(node, Column) and value.type().is_binary():
                    from assay.data.schema import binary_column_note  # schema loads pyarrow

                    hint = f": {binary_column_note(node.name)}"
            self.fail(
                at,
                f"cannot compare {self.describe(left_node, left)} with "
                f"{self.describe(right_node, right)} using '{op}'",
                hint,
            )

    def coerce(self, node: Expr, value: ir.Value, other: ir.Value) -> ir.Value:
        """A string literal compared with a date/time column becomes a date/time."""
        if not (other.type().is_temporal() and isinstance(node, Literal)):
            return value
        if not isinstance(node.value, str):
            return value
        try:
            return self.ibis.literal(node.value, type=other.type())
        except (TypeError, ValueError):
            self.fail(
                node,
                f"invalid {other.type()} {_brief(node)}",
                ": write dates as 'YYYY-MM-DD' and times as 'YYYY-MM-DD HH:MM:SS'",
            )

    def pair(self, left_node: Expr, right_node: Expr) -> tuple[ir.Value, ir.Value]:
        left, right = self.bind(left_node), self.bind(right_node)
        return self.coerce(left_node, left, right), self.coerce(right_node, right, left)

    def bind_compare(self, node: Compare) -> ir.Value:
        left, right = self.pair(node.left, node.right)
        self.comparable(node.op, node, ((node.left, left, node.right, right),))
        return _COMPARE[node.op](left, right)

    def bind_between(self, node: Between) -> ir.Value:
        value, low = self.pair(node.operand, node.low)
        value, high = self.pair(node.operand, node.high)
        pairs = (
            (node.operand, value, node.low, low),
            (node.operand, value, node.high, high),
        )
        self.comparable("between", node, pairs)
        result = value.between(low, high)
        return ~result if node.negated else result

    def bind_in(self, node: In) -> ir.Value:
        value = self.bind(node.operand)
        if len(node.values) > IN_LIST_JOIN:
            return self.in_table(node, value)
        items = [self.coerce(v, self.bind(v), value) for v in node.values]
        for literal, item in zip(node.values, items, strict=True):
            self.comparable("in", literal, ((node.operand, value, literal, item),))
        return value.notin(items) if node.negated else value.isin(items)

    def in_table(self, node: In, value: ir.Value) -> ir.Value:
        """``value [not] in (...)`` as a lookup in a one-column in-memory table."""
        import pyarrow as pa
        import pyarrow.compute as pc

        target = value.type()
        if target.is_null():
            return self.ibis.null("boolean")  # null in (...) is null, as in a short list
        kind = _kind(target)
        for literal in node.values:
            literal_kind = _LITERAL_KINDS[type(literal.value)]
            if literal_kind != kind and not (target.is_temporal() and literal_kind == "string"):
                # The message a short list gives, for the first literal that does not fit.
                item = self.coerce(literal, self.bind(literal), value)
                self.comparable("in", literal, ((node.operand, value, literal, item),))
        if target.is_temporal():
            coerced = [self.coerce(v, self.bind(v), value).op().value for v in node.values]
            values = pa.array(coerced, type=target.to_pyarrow())
        else:
            values = pa.array([v.value for v in node.values])  # int64, double, string, bool
        table = self.ibis.memtable(pa.table({"value": pc.unique(values)}))
        found = value.isin(table["value"])
        # "x in (select ...)" as a whole filter becomes a semi-join, which DuckDB may turn
        # around (probe the values with the scanned rows) and so lose the scan's row
        # order that compose relies on. Inside CASE it stays a mark join, which streams
        # the scan in order. The CASE changes nothing: a null x gives null either way.
        found = value.isnull().ifelse(self.ibis.null("boolean"), found)
        return ~found if node.negated else found

    def bind_isnull(self, node: IsNull) -> ir.Value:
        value = self.bind(node.operand)
        return value.notnull() if node.negated else value.isnull()
