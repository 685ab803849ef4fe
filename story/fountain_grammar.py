"""A per-scene grammar (xgrammar EBNF) that holds the screenwriter's answer to the shape of one Fountain scene.

The words stay free; the shape does not: exactly one scene heading (the one X implies, or any heading
with X's interior/exterior prefix when X names no place), then blocks separated by blank lines: action
paragraphs, dialogue (a cue drawn only from the scene's cast and aliases, with the usual V.O., O.S.,
O.C. and CONT'D extensions, an optional parenthetical, the spoken line) and transitions. What the
critic's F1 checks reject (a second heading, a cue naming nobody in C, a dialogue block with no words,
chat around the script) cannot be generated, nor can an English action line hold one of the linter's
unfilmable words (F2-inner-state: "felt", "realized", "sad"; ``story/word_grammar.py``).
"""

from __future__ import annotations

import functools
import json
import string

from dsr.screenplay.lexicon import UNFILMABLE_WORDS
from dsr.story.checks.text import mentions
from dsr.story.schemas import TaskInput
from dsr.story.word_grammar import LETTERS, CharClass, words_excluding

EXTENSIONS = ("V.O.", "O.S.", "O.C.", "CONT'D")
TRANSITIONS = (
    "CUT TO:",
    "DISSOLVE TO:",
    "SMASH CUT TO:",
    "MATCH CUT TO:",
)  # Fountain reads "TO:" lines as such
UNKNOWN_PLACE = "UNKNOWN LOCATION"

# An action line opens with a capital and a lower-case letter or punctuation, so it can be neither a
# heading ("INT.") nor a cue (all capitals), and has a space after its first word, so that a lone name cannot
# stand on a line where the linter reads a mixed-case cue (SP020, SP021); a speech line opens with anything
# but "(" or a line break. An action paragraph is at most 3 lines of at most 14 words of at most 14
# characters: 209 characters, 4 printed lines each, within the linter's error bound of 12 printed lines
# (SP040), so a wall of prose cannot be generated. Words, not a character count ({1,209}), bound it: xgrammar
# compiles a long character repetition in seconds, this in about 0.1 s (1.5 s with the word rules below, which
# are the same for every scene of a language: about 350 rules).
_RULES = r"""
root ::= heading "\n" ("\n" block)+
action ::= action_line ("\n" action_line){0,2} "\n"
action_line ::= first_word (" " word){1,13}
"""
_FREE_WORDS = r"""
first_word ::= [A-Z] [a-z,.'!?;:\-]{0,13}
word ::= [^ \n]{1,14}
"""
# ... and, in English, no action word is one of the linter's unfilmable words (SP042 thoughts, SP043 named
# emotions: "felt", "realized", "sad"), so an action line cannot state what the camera cannot see
# (F2-inner-state); dialogue stays free. A named emotion is kept out of action even without "is" before it.
# Characters that glue words together without a space ("ideas/thought", "=no") are not action text either:
# leaving them out keeps a listed word from hiding behind one.
JOINERS = "/\\=_|+*~^<>{}[]`"
WORD_CHARS = CharClass(LETTERS, JOINERS, other_any=True)
# An action line's first word: a capital, then a lower-case letter or punctuation (so the line is not in
# capitals: neither a heading nor a cue), then anything.
FIRST_WORD = [
    CharClass(frozenset(string.ascii_uppercase)),
    CharClass(frozenset(string.ascii_lowercase), ",.'!?;:-"),
]
MAX_WORD = 14
_DIALOGUE = r"""
dialogue ::= cue extension? "\n" (parenthetical "\n")? speech "\n"
parenthetical ::= "(" [a-z] [^()\n]* ")"
speech ::= [^(\n] [^\n]*
"""


def _literal(text: str) -> str:
    return json.dumps(text)  # an EBNF string literal uses JSON's quoting and escapes


def _choice(options: list[str]) -> str:
    return " | ".join(_literal(o) for o in options)


def cast_cues(x: TaskInput, prose: str | None = None) -> list[str]:
    """Every cue the scene may use: names and aliases of C in capitals, longest first; with the ``prose`` the
    screenplay converts, only the characters it names (the critic's F3-unknown-speaker: nobody new speaks)."""
    names = {
        n.strip().upper()
        for c in x.characters
        if prose is None or mentions(prose, (c.name, *c.aliases))
        for n in (c.name, *c.aliases)
        if n.strip()
    }
    return sorted(names, key=lambda n: (-len(n), n))


@functools.cache
def _words(language: str) -> tuple[str, ...]:
    """The rules for an action line's words: free, or (where the lexicon has a word list) none unfilmable."""
    banned = list(UNFILMABLE_WORDS.get(language, ()))
    if not banned:
        return (_FREE_WORDS.strip(),)
    return tuple(words_excluding(banned, {"word": [], "first_word": FIRST_WORD}, WORD_CHARS, MAX_WORD))


def scene_grammar(x: TaskInput, heading: str, prose: str | None = None) -> str:
    """The EBNF for one scene of ``x`` whose heading X implies as ``heading`` (see ``heading_hint``), converting
    ``prose`` when given (its characters are the only speakers)."""
    if UNKNOWN_PLACE in heading:
        prefix, _, rest = heading.partition(" ")
        time = rest.rpartition(" - ")[2]
        head = f"heading ::= {_literal(prefix + ' ')} [A-Z0-9] [A-Z0-9 '.&/\\-]* {_literal(' - ' + time)}"
    else:
        head = f"heading ::= {_literal(heading)}"
    cues = cast_cues(x, prose)
    rules = [
        _RULES.strip(),
        *_words(x.meta.language),
        head,
        f'transition ::= ({_choice(list(TRANSITIONS))}) "\\n"',
    ]
    if cues:  # without a cast (or nobody of it in the prose) a cue would name nobody allowed: no dialogue
        rules += [
            _DIALOGUE.strip(),
            "block ::= action | dialogue | transition",
            f"cue ::= {_choice(cues)}",
            f"extension ::= {_choice([f' ({e})' for e in EXTENSIONS])}",
        ]
    else:
        rules.append("block ::= action | transition")
    return "\n".join(rules) + "\n"
