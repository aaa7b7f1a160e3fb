"""Regular expressions that Python accepts but RE2, the engines' dialect, does not.

A suite's patterns run in the engine (DuckDB uses RE2), so a construct RE2 lacks
would only fail when the suite runs, as an engine error. ``unsupported`` finds it at
load time and names it. The list was made by compiling each construct in DuckDB:
look-arounds, back-references, atomic groups, possessive quantifiers, ``\\Z``,
``\\u``/``\\U``/``\\N`` escapes, the inline flags ``x``, ``a``, ``u``, ``L``, ``(?#…)``
comments and repetition counts over 1000.
"""

from __future__ import annotations

import re

__all__ = ["unsupported"]

_GROUPS = {
    "?=": "a lookahead (?=…)",
    "?!": "a negative lookahead (?!…)",
    "?<=": "a lookbehind (?<=…)",
    "?<!": "a negative lookbehind (?<!…)",
    "?>": "an atomic group (?>…)",
    "?P=": "a back-reference (?P=name)",
    "?(": "a conditional group (?(…)…)",
    "?#": "a comment (?#…)",
}
_ESCAPES = {
    "Z": "\\Z (write \\z for the end of the text)",
    "u": "a \\u escape (write \\x{…})",
    "U": "a \\U escape (write \\x{…})",
    "N": "a \\N{…} escape (write the character, or \\x{…})",
}
_FLAGS = re.compile(r"\?([a-zA-Z]*)(?:-[a-zA-Z]*)?[:)]")
_REPEAT = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def unsupported(pattern: str) -> str | None:
    """The first construct of ``pattern`` that RE2 lacks, in words; None if there is none."""
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt in "123456789" and nxt:
                digits = re.match(r"\d+", pattern[i + 1 :])
                assert digits is not None
                if in_class:  # Python reads an octal character here
                    return f"the octal escape \\{digits.group(0)} (write \\x{{…}})"
                return f"a back-reference \\{digits.group(0)}"
            if nxt in _ESCAPES:
                return _ESCAPES[nxt]
            i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):  # a POSIX class such as [:alpha:]
                end = pattern.find(":]", i + 2)
                i = end + 2 if end >= 0 else i + 1
                continue
            in_class = c != "]"
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            if pattern.startswith("^", i):
                i += 1
            if pattern.startswith("]", i):  # a leading ] is a literal
                i += 1
            continue
        if c == "(" and pattern.startswith("?", i + 1):
            rest = pattern[i + 1 :]
            for opener, name in _GROUPS.items():
                if rest.startswith(opener):
                    return name
            flags = _FLAGS.match(rest)
            bad = sorted(set(flags.group(1)) - set("imsU")) if flags else []
            if bad:
                return f"the inline flag {bad[0]!r} (RE2 has i, m, s and U)"
        if c in "*+?}" and pattern.startswith("+", i + 1) and _quantifies(pattern, i):
            return f"a possessive quantifier {c}+"
        if c == "{":
            repeat = _REPEAT.match(pattern, i)
            if repeat and any(g and int(g) > 1000 for g in repeat.groups()):
                return f"the repetition {repeat.group(0)} (RE2 allows at most 1000)"
        i += 1
    return None


def _quantifies(pattern: str, i: int) -> bool:
    """Whether the character at ``i`` ends a quantifier (``}`` may be a literal)."""
    if pattern[i] != "}":
        return pattern[i] != "+" or i == 0 or pattern[i - 1] not in "*+?}"
    start = pattern.rfind("{", 0, i)
    return start >= 0 and _REPEAT.fullmatch(pattern, start, i + 1) is not None
