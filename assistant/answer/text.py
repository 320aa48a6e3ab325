"""Words, terms and stems: the text primitives every answering stage shares.

Everything here is general English (stop words, stemming, number shapes); nothing knows a corpus.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves tell give list describe explain
    according say said says please many much did does per
    """.split()
)
# Words that frame a question without naming what it is about ("what is the main type of …").
QUESTION_FRAME = frozenset(
    """
    kind kinds type types sort sorts main primary major mean means meaning known called name named
    names example examples define definition role roles purpose describe described use used using
    way ways thing things one ones happen happens happened particular specific specifically
    common commonly usually typically generally often currently certain various several
    """.split()
)
WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*[A-Za-z]|[A-Za-z]|\d[\d,.]*\d|\d")
NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:[,.]\d+)*(?![\w])")
YEAR = re.compile(r"\b(?:1[6-9]|20)\d\d\b")
MONTHS = "january february march april may june july august september october november december".split()


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that carry meaning (stop words removed). An acronym spelled
    like a stop word ("WHO", "US", "IT") is kept, unless the whole text is in capitals."""
    raw = WORD.findall(text)
    shouting = sum(w.isupper() for w in raw) > 0.5 * max(1, len(raw))
    out = []
    for w in raw:
        low = re.sub(r"['’]s$", "", w.lower()).strip("'’")
        if low and (low not in STOPWORDS or (not shouting and len(w) > 1 and w.isupper())):
            out.append(low)
    return out


def specific_terms(question: str) -> list[str]:
    """Names and numbers in a question: capitalised words (not the first), acronyms, figures.

    These carry the question's subject; a question naming one the corpus never mentions is
    about something else.
    """
    out: list[str] = []
    tokens = WORD.findall(question)
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in STOPWORDS:
            continue
        if (
            tok[0].isdigit()
            or (tok[0].isupper() and i > 0)
            or (sum(ch.isupper() for ch in tok) >= 2 and len(tok) > 1)
        ):
            out.append(tok)
    return out


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer, installed with bm25s

    return Stemmer.Stemmer("english")


_BRITISH = re.compile(r"(?<=[a-z]{3})is(e|es|ed|ing|ation|ations)$")
# British -our words read as American -or ones ("labourers", "favourably", "colours"), from a list
# of general English stems so that a name ("Gilmour") is left alone; "licence", "defences" ->
# -ense- (the nouns English spells -ence in Britain only)
_OUR_STEMS = (
    "arbo|ardo|armo|behavio|cando|clamo|colo|endeavo|favo|fervo|flavo|harbo|hono|humo|labo|"
    "neighbo|odo|parlo|rigo|rumo|savo|splendo|tumo|valo|vapo|vigo"
)
_BRITISH_OUR = re.compile(
    rf"^({_OUR_STEMS})ur(s|ed|ing|er|ers|al|ally|hood|hoods|less|able|ably|ite|ites|ful|y|ist|ists|ism)?$"
)
_BRITISH_ENCE = re.compile(r"^(lic|def|off|pret)enc(e|es|ed|ing)$")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball stem of a word, lower-cased; figures keep their digits only ("270,000" -> "270000").
    British spellings stem as American ones: -ise as -ize ("commercialise" = "commercialize"),
    -our as -or ("labourers" = "laborers"), -ence as -ense ("licences" = "licenses")."""
    w = re.sub(r"['’]s$", "", word.lower())
    if w[:1].isdigit():
        return w.replace(",", "")
    w = _BRITISH_ENCE.sub(r"\1ens\2", _BRITISH_OUR.sub(r"\1r\2", _BRITISH.sub(r"iz\1", w)))
    return str(_stemmer().stemWord(w))


def terms(text: str, *, frame: bool = True) -> set[str]:
    """Stemmed content terms; a hyphenated word counts as its parts ("sea-level" = "sea level",
    "ARPA-E" = "arpa"), as the keyword index sees it. ``frame=False`` also drops question-frame
    words ("type", "main", "called")."""
    return set(_term_tuple(text, frame))


def term_list(text: str, *, frame: bool = True) -> list[str]:
    """:func:`terms` in order of appearance, repeats kept (for bigrams)."""
    return list(_term_tuple(text, frame))


@lru_cache(maxsize=16384)  # a unit's text, its context and its title are read once per aspect
def _term_tuple(text: str, frame: bool) -> tuple[str, ...]:
    out: list[str] = []
    for w in content_words(text):
        if not frame and w in QUESTION_FRAME:
            continue
        if "-" not in w:
            out.append(stem(w))
            continue
        for part in w.split("-"):
            if len(part) > 2 and part not in STOPWORDS:
                out.append(stem(part))
    return tuple(out)


def bigrams(text: str) -> set[tuple[str, str]]:
    """Consecutive content-term pairs ("incubation period", "mine production")."""
    seq = term_list(text)
    return set(pairwise(seq))


def numbers(text: str) -> set[str]:
    """Figures of ``text`` without separators ("270,000" -> "270000")."""
    return {m.group(0).replace(",", "").lstrip("-−") for m in NUMBER.finditer(text)}


def word_count(text: str) -> int:
    """Words of ``text`` (as :data:`WORD` reads them)."""
    return len(WORD.findall(text))
