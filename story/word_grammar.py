"""EBNF for one word that is not in a list: how the Fountain grammar keeps unfilmable words out of action lines.

xgrammar's EBNF has no negation, so "any word but these" is written out from a trie of the words: at each
prefix of a listed word the next character either follows the trie (case-insensitively) or leaves it (a letter
no listed word continues with, or, once the prefix is not itself a listed word, a non-letter or the word's
end), and once it has left the trie the rest of the word is free. A listed word followed by punctuation
("felt,") is kept out as well, as the linter matches it on word boundaries; one inside a longer token after
a non-letter ("hand,felt") is not: the Fountain grammar leaves the joiners a model glues words with ("ideas/
thought") out of action words altogether, and the critic still checks every line.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

LETTERS = frozenset(string.ascii_letters)


@dataclass(frozen=True)
class CharClass:
    """The characters a word may hold at some position: a set of letters, and either every non-letter but
    space, newline and those in ``others`` (``other_any``) or the non-letters listed in ``others``."""

    letters: frozenset[str]
    others: str = ""
    other_any: bool = False

    def without(self, letters: set[str]) -> CharClass:
        return CharClass(self.letters - letters, self.others, self.other_any)

    def non_letters(self) -> CharClass:
        return CharClass(frozenset(), self.others, self.other_any)

    def only(self, letters: set[str]) -> CharClass:
        return CharClass(self.letters & letters)

    def empty(self) -> bool:
        return not self.letters and not self.others and not self.other_any

    def ebnf(self) -> str:
        if self.other_any:
            excluded = "".join(sorted(LETTERS - self.letters)) + "".join(_escape(c) for c in self.others)
            return f"[^ \\n{excluded}]"
        return "[" + "".join(sorted(self.letters)) + "".join(_escape(c) for c in self.others) + "]"


def _escape(char: str) -> str:
    return "\\" + char if char in "\\]-^" else char


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    listed: bool = False


def _trie(words: list[str]) -> _Node:
    root = _Node()
    for word in words:
        node = root
        for char in word.lower():
            node = node.children.setdefault(char, _Node())
        node.listed = True
    return root


def words_excluding(
    words: list[str], starts: dict[str, list[CharClass]], rest: CharClass, max_len: int
) -> list[str]:
    """Rules defining one rule per name in ``starts``: a word of 1 to ``max_len`` characters whose characters
    come from that name's classes at its first positions and from ``rest`` after them, and whose letters up to
    the first non-letter are none of ``words`` in any case.

    Rules are shared wherever two words are at the same depth of the same subtree with the same classes
    ahead (words of one name with another's, and suffixes such as "-ed" across listed words), which keeps the
    grammar, and xgrammar's compile time (about linear in its rules), small.
    """
    rules: list[str] = []
    tails: dict[tuple[object, ...], str] = {}
    made: dict[tuple[object, ...], str | None] = {}
    prefix = "_".join(sorted(starts))

    def tail(used: int, classes: list[CharClass]) -> str:
        """The free rest of a word that has ``used`` characters: its classes ahead, then ``rest``, any length."""
        free = [c.ebnf() for c in classes[used:max_len]]
        left = max_len - max(used, len(classes))
        if not free and left <= 0:
            return '""'
        key = (*free, left)
        if key not in tails:
            tails[key] = f"{prefix}_free{len(tails)}"
            rules.append(f"{tails[key]} ::= {_optional_chain(free, rest.ebnf(), left)}")
        return tails[key]

    root = _trie(words)
    signatures = _signatures(root)

    def visit(node: _Node, depth: int, classes: list[CharClass]) -> str | None:
        """The rule for the words that reach ``node`` at ``depth``; None when none can end from there."""
        key = (depth, signatures[id(node)], tuple(classes[depth:]))
        if key in made:
            return made[key]
        allowed = classes[depth] if depth < len(classes) else rest
        options: list[str] = []
        if depth > 0 and not node.listed:
            options.append('""')
        if depth < max_len:
            if not node.listed and not (others := allowed.non_letters()).empty():
                options.append(f"{others.ebnf()} {tail(depth + 1, classes)}")
            followed = set(node.children) | {c.upper() for c in node.children}
            if not (away := CharClass(allowed.letters).without(followed)).empty():
                options.append(f"{away.ebnf()} {tail(depth + 1, classes)}")
            for char, child in sorted(node.children.items()):
                cases = allowed.only({char, char.upper()})
                if not cases.empty() and (rule := visit(child, depth + 1, classes)):
                    options.append(f"{cases.ebnf()} {rule}")
        name = f"{prefix}_n{len(made)}" if options else None
        made[key] = name
        if name:
            rules.append(f"{name} ::= " + " | ".join(options))
        return name

    for word_rule, classes in starts.items():
        top = visit(root, 0, classes)
        rules.append(f"{word_rule} ::= {top}")
    return rules


def _optional_chain(free: list[str], rest: str, left: int) -> str:
    """``free[0] (free[1] (... rest{0,left})?)?``: characters of the given classes, each one optional in turn."""
    body = f"{rest}{{0,{left}}}" if left > 0 else '""'
    for cls in reversed(free):
        body = f"({cls} {body})?"
    return body


def _signatures(root: _Node) -> dict[int, object]:
    """Each node's subtree as a hashable value (by ``id``): equal subtrees, equal values, computed once each."""
    out: dict[int, object] = {}

    def walk(node: _Node) -> object:
        out[id(node)] = (node.listed, tuple(sorted((c, walk(child)) for c, child in node.children.items())))
        return out[id(node)]

    walk(root)
    return out
