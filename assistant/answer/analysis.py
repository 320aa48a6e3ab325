"""Question analysis: a question split into aspects, each with its terms and the kind it asks for.

An *aspect* is one thing the analyst asks: a clause of a compound question ("Which two cities
…, and which of them …?"), or one of coordinated items that share a frame ("How much in 2022 and
in 2024?" asks for two figures). Each aspect keeps its own text (for embedding), its content terms,
its specific terms (names and figures, which must be matched), and its kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from assistant.answer.kinds import Kind, asked_kind
from assistant.answer.text import WORD, bigrams, specific_terms, stem, terms, word_count

_WH = (
    r"what|which|who|whom|whose|when|where|how|why|in what|in which|on what|at what|for what|to what|"
    r"did|does|do|is|are|was|were|has|have|had|can|could|will|would|should"
)
# ", and what …" / " and which …" / "; how …": a new clause asking its own question
# (a follow-up's carried subject, "… (Velt harbour cargo tonnage)", stays with its question)
_CLAUSE = re.compile(
    rf"(?:,\s*|\s+)(?:and|but|also|as well as)\s+(?=(?:{_WH})\b)|;\s*(?=(?:{_WH})\b)|\?\s+(?=[^\s(])",
    re.I,
)
# "in 2022 and in 2024", "for China and for Japan", "in 2022 and 2024"
_COORDINATED = re.compile(
    r"\b(?P<prep>in|for|during|of|at|from|on)\s+(?P<a>(?:19|20)\d\d|[A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)*)"
    r"\s+(?:and|versus|vs\.?|or)\s+(?:(?P=prep)\s+)?(?P<b>(?:19|20)\d\d|[A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)*)\b"
)
_ANAPHOR = re.compile(
    r"\b(?:it|its|they|them|their|theirs|he|him|his|she|her|hers|this|these|those|that one|the same|"
    r"there)\b",
    re.I,
)
_COMPARATIVE = re.compile(r"\b(?:other|another|former|latter)\b", re.I)
# a short question about "the <thing>" that names nothing of its own ("How big are the
# country's reserves?") refers to the conversation's subject
_DEFINITE = re.compile(r"\bthe\s+\w+", re.I)
_SHORT_DEFINITE_WORDS = 8
_SOURCE_CLAUSE = re.compile(
    r"^\s*(?:according to|as (?:stated|reported|described) (?:in|by)|based on|per|in)\s+(?:the\s+)?"
    r"[^,?]{3,120}?(?:report|summary|order|paper|article|study|document|fact sheet|review|survey|"
    r"proclamation|statement|analysis|data|table|text),\s*",
    re.IGNORECASE,
)


_NAME_WORD = r"(?:[A-Z][a-z]+(?:[A-Z][a-z]+)*|[A-Z]{2,})(?:-[A-Za-z]+)*"
_NAME_RUN = re.compile(rf"\b{_NAME_WORD}(?:\s+(?:(?:of|and|for|the|de|on)\s+)*{_NAME_WORD})+\b")
_SMALL = frozenset("of and for the de on".split())


def names(question: str) -> list[str]:
    """Multi-word names of a question ("Minerals Security Partnership", "Critical Raw Materials
    Act"): runs of capitalised words, the question's first word aside. A question in Title Case
    has no telling names."""
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", question)[1:]
    if len(words) >= 4 and sum(w[0].isupper() for w in words) >= 0.75 * len(words):
        return []
    out = []
    for m in _NAME_RUN.finditer(question):
        run = m.group(0).split()
        if m.start() == 0 or re.search(r"[?!.]\s*$", question[: m.start()]):
            run = run[1:]
        while run and run[0].lower() in _SMALL:
            run = run[1:]
        if sum(1 for w in run if w.lower() not in _SMALL) >= 2:
            out.append(" ".join(run))
    return out


def name_in(name: str, texts: list[str]) -> bool:
    """Whether the words of ``name`` occur together, in order, in one of ``texts`` (case, hyphens
    and small words aside: "Department of Commerce" in "the department of commerce's")."""
    want = [stem(w) for w in re.findall(r"[a-z0-9]+", name.lower()) if w not in _SMALL]
    if not want:
        return True
    for text in texts:
        toks = [stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _SMALL]
        n = len(want)
        if any(toks[i : i + n] == want for i in range(len(toks) - n + 1)):
            return True
    return False


# "U.S." / "E.U.": the dots of an initialism go, so it reads as one word ("US")
_INITIALISM_DOT = re.compile(r"(?<=\b[A-Za-z])\.(?=[A-Za-z]\b)|(?<=\b[A-Za-z]\.[A-Za-z])\.")


def name_parts(name: str) -> list[str]:
    """The names a run of capitalised words holds: "US and Australia" is two names, "Director General
    for the WHO" a name and a word; each part keeps two content words at least ("Department of
    Energy" stays whole)."""
    out = []
    for part in re.split(r"\s+(?:and|for)\s+", name):
        words = part.split()
        while words and words[0].lower() in _SMALL:
            words = words[1:]
        while words and words[-1].lower() in _SMALL:
            words = words[:-1]
        if sum(1 for w in words if w.lower() not in _SMALL) >= 2:
            out.append(" ".join(words))
    return out


# a qualifier of place that makes a region of a name ("Northern Veltria", "Southeast Ostrian")
_REGION_QUALIFIER = re.compile(
    r"^(?:(?:north|south|east|west)(?:ern|east|west|eastern|western)?|central|inner|outer|upper|lower|"
    r"greater|mid)\s+(?=\S)",
    re.I,
)


def name_spellings(name: str, question: str) -> list[str]:
    """The ways a question's name may be written in the documents: as asked, as the question spells it
    in brackets after it, a few words on at most ("Zorblat Binding Council (ZBC)", "Velt Fever (Ostrian
    Ague)"), and without a qualifier of place ("Northern Veltria" is spoken of as Veltria)."""
    out = [name]
    m = re.search(re.escape(name) + r"(?:[\s-]+[\w-]+){0,3}?\s*\(([^()]{2,60})\)", question)
    if m:
        out.append(m.group(1).strip())
    rest = _REGION_QUALIFIER.sub("", name)
    if rest != name and name_words(rest):
        out.append(rest)
    return out


def name_words(name: str) -> list[str]:
    """The lower-cased content words of a name, initialisms undotted ("U.S. Navy" -> us, navy)."""
    return [w for w in re.findall(r"[a-z0-9]+", _INITIALISM_DOT.sub("", name).lower()) if w not in _SMALL]


@lru_cache(maxsize=4096)  # a passage is read for every name and spelling of the question
def _text_words(text: str) -> tuple[str, ...]:
    return tuple(name_words(text))


def same_word(a: str, b: str) -> bool:
    """Whether two lower-cased words name the same thing: one stem, or one word extends the other by
    at most two letters ("Veltrian" / "Veltria", "Ostrian" / "Ostria")."""
    if a == b or stem(a) == stem(b):
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and len(long_) - len(short) <= 2 and long_.startswith(short)


def name_near(name: str, text: str, slack: int) -> bool:
    """Whether every content word of ``name`` occurs in ``text`` within a stretch of its own length
    plus ``slack`` words, in any order ("Commerce Department" in "the Department of Commerce")."""
    want = name_words(name)
    if not want:
        return True
    toks = _text_words(text)
    where = [[i for i, t in enumerate(toks) if same_word(w, t)] for w in want]
    if not all(where):
        return False
    span = len(want) + slack
    return any(all(any(abs(j - i) < span for j in other) for other in where[1:]) for i in where[0])


@dataclass(frozen=True)
class Aspect:
    """One asked thing. ``text`` is the clause as asked (with the shared frame filled in),
    ``terms`` its stemmed content terms (question-frame words dropped), ``specific`` the names and
    figures it holds (stemmed), ``kind`` the kind of answer it asks for, ``refers_back`` whether
    it leans on an earlier aspect for its subject ("…, and what are they based on?"), ``query``
    the text embedded and matched (with that subject's names)."""

    text: str
    terms: frozenset[str]
    specific: frozenset[str]
    kind: Kind
    bigrams: frozenset[tuple[str, str]] = frozenset()
    refers_back: bool = False
    query: str = ""  # what is embedded: the text, with the subject it refers back to


@dataclass(frozen=True)
class Question:
    """A question as the reader sees it: ``text`` for scoring (a leading source clause such as
    "According to the 2024 report," removed: it picks the document, not the sentence),
    ``asked`` as typed, and its aspects (at least one)."""

    asked: str
    text: str
    aspects: tuple[Aspect, ...]
    terms: frozenset[str] = field(default_factory=frozenset)
    specific: frozenset[str] = field(default_factory=frozenset)
    names: tuple[str, ...] = ()

    @property
    def kind(self) -> Kind:
        """The kind the first aspect asks for."""
        return self.aspects[0].kind


def _aspect(text: str, refers_back: bool = False, subject: str = "") -> Aspect:
    text = text.strip(" ,;?")
    query = f"{text} ({subject})" if subject else text
    return Aspect(
        text=text,
        terms=frozenset(terms(query, frame=False) or terms(query)),
        specific=frozenset(terms(" ".join(specific_terms(query)))),
        kind=asked_kind(text),
        bigrams=frozenset(bigrams(query)),
        refers_back=refers_back,
        query=query,
    )


def scoring_text(question: str) -> str:
    """``question`` without a leading clause naming its source ("According to the NOAA summary,
    how much …" -> "how much …"), unless too little would be left."""
    rest = _SOURCE_CLAUSE.sub("", question)
    return rest if word_count(rest) >= 3 else question


def clauses(question: str) -> list[str]:
    """The clauses of a compound question that each ask their own thing; a clause of fewer than
    three words stays with the one before it."""
    parts = [p.strip(" ,;?") for p in _CLAUSE.split(question) if p and p.strip(" ,;?")]
    merged: list[str] = []
    for p in parts:
        if merged and (word_count(p) < 3 or word_count(merged[-1]) < 2):
            merged[-1] = f"{merged[-1]} and {p}"  # "Where and on what day …" asks one thing
        else:
            merged.append(p)
    return merged or [question.strip()]


def _split_coordinated(clause: str) -> list[str]:
    """One clause asking for a figure or date of two coordinated items ("in 2022 and in 2024")
    as one clause per item; other clauses unchanged."""
    m = _COORDINATED.search(clause)
    if not m or asked_kind(clause) not in ("money", "percentage", "count", "quantity", "date", "duration"):
        return [clause]
    a, b = m.group("a"), m.group("b")
    head, tail = clause[: m.start()], clause[m.end() :]
    return [f"{head}{m.group('prep')} {a}{tail}", f"{head}{m.group('prep')} {b}{tail}"]


def analyse(question: str) -> Question:
    """Split ``question`` into aspects (see :class:`Aspect`). An aspect that refers back ("…, and
    what did she say?") is read with the names of the clause before it ("Orla Venn … what did she
    say"), which is what it is about."""
    text = scoring_text(question)
    aspects: list[Aspect] = []
    previous_names: list[str] = []
    for i, clause in enumerate(clauses(text)):
        back = i > 0 and bool(_ANAPHOR.search(clause)) and not specific_terms(clause)
        for part in _split_coordinated(clause):
            aspects.append(_aspect(part, back, " ".join(previous_names) if back else ""))
        previous_names = specific_terms(clause) or previous_names
    if not aspects:
        aspects = [_aspect(text)]
    return Question(
        asked=question,
        text=text,
        aspects=tuple(aspects),
        terms=frozenset(terms(text, frame=False) or terms(text)),
        specific=frozenset(terms(" ".join(specific_terms(text)))),
        names=tuple(names(text)),
    )


def needs_conversation(question: str) -> bool:
    """Whether a question leans on the conversation for its subject: it opens with an ellipsis
    ("And Japan?", "What about its reserves?"), or names no subject of its own and refers back
    with a pronoun or a comparative ("When was it signed?", "Which other ports does it serve?")
    or is a short question about "the <thing>" ("How big is the company's debt?"). A question
    naming its own subject ("Who is Orla Venn and what did she say?") is self-contained,
    pronouns and all."""
    q = question.strip()
    if re.match(r"^(?:and|also|what about|how about|and what about|same for|what of|as for)\b", q, re.I):
        return True
    own = specific_terms(q)
    if (_ANAPHOR.search(q) or _COMPARATIVE.search(q)) and not own:
        return True
    words = [w for w in WORD.findall(q)]
    if not own and _DEFINITE.search(q) and len(words) <= _SHORT_DEFINITE_WORDS:
        return True
    return len(terms(q, frame=False)) <= 1 and len(words) <= 4 and not own
