"""Kinds of answers: what a question asks for, and what a sentence holds.

A question asks for a person, an organisation, a place, a date, a duration, money, a
percentage, a count, a quantity, a list, a definition, a reason, a yes/no verdict, a comparison
or a description. A sentence *holds* a kind when it contains something of that kind that the
question does not already contain (a sentence repeating the question's own year holds no date).

The patterns are general English: wh-words, units, currency and month names, capitalisation.
They are written here because they are small, fast and predictable; the reader's weights decide
how much each one counts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from assistant.answer.text import MONTHS, NUMBER, STOPWORDS, WORD, YEAR

Kind = Literal[
    "person",
    "organisation",
    "place",
    "date",
    "duration",
    "money",
    "percentage",
    "count",
    "quantity",
    "list",
    "definition",
    "reason",
    "yesno",
    "comparison",
    "description",
]

# kinds whose answer must contain a thing of that kind (no figure, no answer to "how many")
TYPED: frozenset[str] = frozenset(
    {"person", "organisation", "place", "date", "duration", "money", "percentage", "count", "quantity"}
)
NUMERIC: frozenset[str] = frozenset({"duration", "money", "percentage", "count", "quantity"})

_MONTH = (
    r"(?:"
    + "|".join(m.capitalize() for m in MONTHS)
    + r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?)"
)
_TIME_UNIT = (
    r"(?:seconds?|minutes?|hours?|hrs?|days?|weeks?|months?|years?|yrs?|decades?|centuries|century|h|d|wk)"
)
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand "
    "million billion trillion dozen dozens hundreds thousands millions billions half single double twice"
).split()
_NUM = rf"(?:\d+(?:[,.]\d+)*|{'|'.join(_NUMBER_WORDS)})"
_CURRENCY = (
    r"(?:[$€£¥₹]|\b(?:US\$|USD|EUR|GBP|JPY|CNY|RMB|AUD|CAD|dollars?|euros?|pounds sterling|yen|yuan|"
    r"renminbi|rupees?|francs?)\b)"
)
_SCALE = r"(?:thousand|million|billion|trillion|[mb]n|[kKMB])"

PATTERNS: dict[str, re.Pattern[str]] = {
    "date": re.compile(
        rf"\b{_MONTH}\b|{YEAR.pattern}|\b\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}\b|\b(?:19|20)\d0s\b|"
        r"\b\d{1,2}(?:st|nd|rd|th) (?:day of|century)\b|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|"
        r"Saturday|Sunday)\b"
    ),
    # "90 days", "three to five years", "5-10 years", "between 3 and 5 years" (not "300 and 2 years")
    "duration": re.compile(
        rf"\b(?:between\s+{_NUM}\s+and\s+{_NUM}|{_NUM}(?:\s*(?:-|–|to)\s*{_NUM})?)[\s-]*{_TIME_UNIT}\b",
        re.IGNORECASE,
    ),
    # "$4.2 million", "310 euros", and a table cell under a currency header ("Price 2024 ($/t): 9,140";
    # a row read with its headers: "Price, dollars per ton: Zorblat — 2024: 9,140")
    "money": re.compile(
        rf"{_CURRENCY}\s?{_NUM}(?:\s?{_SCALE})?|\b{_NUM}\s?{_SCALE}?\s?{_CURRENCY}|"
        rf"{_CURRENCY}[^\d\n;]{{0,24}}?:\s*{_NUM}|{_CURRENCY}[^\n—]{{0,80}}—[^\n]*?:\s*{_NUM}",
        re.IGNORECASE,
    ),
    "percentage": re.compile(
        rf"\b{_NUM}\s?(?:%|percent\b|per cent\b|percentage points?\b)|\b\d?\.\d+\b|"
        r"\b\d+ (?:in|of|out of) \d+\b",
        re.IGNORECASE,
    ),
    "reason": re.compile(
        r"\b(?:because|due to|owing to|as a result|result(?:s|ed)? (?:in|from)|caus(?:e|es|ed|ing)|"
        r"lead(?:s|ing)? to|led to|therefore|thus|hence|so that|in order to|reason|since|attribut(?:e|ed)|"
        r"driven by|responsible for|contribut(?:e|es|ed|ing) to)\b",
        re.IGNORECASE,
    ),
    "definition": re.compile(
        r"\b(?:is|are|was|were) (?:a|an|the|one of)\b|\b(?:refers? to|defined as|known as|called|termed|"
        r"consist(?:s)? of|means|describes?)\b|,\s(?:a|an)\s",
        re.IGNORECASE,
    ),
}
# a capitalised run within a line: "Orla Venn", "World Health Organization", "U.S. Coast Guard"
_NAME = re.compile(
    r"\b(?:[A-Z][a-z]+\.?|[A-Z]{2,}|[A-Z]\.)(?:[ \t]+(?:of|for|and|the|de|von|van|del|da)?[ \t]*"
    r"(?:[A-Z][a-zA-Z'’-]+|[A-Z]\.))*"
)
_ORG_WORDS = re.compile(
    r"\b(?:Agency|Department|Ministry|Organi[sz]ation|Institute|Institutes|University|College|Company|Corp|"
    r"Corporation|Inc|Ltd|LLC|Council|Commission|Committee|Bank|Association|Cent(?:er|re)|Office|"
    r"Administration|Bureau|Authority|Board|Foundation|Society|Group|Laboratory|Laboratories|Hospital|"
    r"Service|Services|Survey|Agency|Federation|Union|Party|Court|Parliament|Congress|Government|Academy|"
    r"Academies|School|Schools|Municipal|Ministries|Program|Programme|Fund|Council|Network|Alliance)\b"
)
_TITLE_WORDS = re.compile(
    r"\b(?:President|Vice|Secretary|Minister|Director|Chair|Chairman|Chairwoman|Governor|Senator|Ambassador|"
    r"Administrator|Commissioner|General|Chief|Officer|Representative|Premier|Chancellor|King|Queen|Prince|"
    r"Mayor|Judge|Justice|Speaker|Head|Deputy|Assistant|Under|Executive|Manager|Advisor|Adviser|Senior|"
    r"Special|Principal|Counselor|Counsellor|Envoy|Coordinator|Attorney|Inspector|Comptroller|Registrar)\b"
)
_GEO_WORDS = re.compile(
    r"(?:States|Kingdom|Republic|Nations|Union|Islands?|City|Province|County|Region|Sea|Ocean|River|"
    r"Mountains?|North|South|East|West|Northern|Southern|Eastern|Western|Central|America|Africa|Asia|"
    r"Europe|Middle|Gulf|Coast|Federal|National|International)"
)
_PLACE_CUE = re.compile(
    r"\b(?:in|at|from|near|to|across|throughout|within|inside|outside)\s+(?:the\s+)?"
    r"(?:[A-Z][a-z]+|[A-Z]{2,})|\b(?:City|Province|Republic|Kingdom|State|States|Island|Islands|County|"
    r"Region|Prefecture|District|Peninsula|Coast|Basin|Valley)\b"
)
_LOCATION_PHRASE = re.compile(
    r"\b(?:in|at|from|into|on|within|inside|near|throughout)\s+(?:the\s+|a\s+|an\s+)?[a-z]+", re.IGNORECASE
)
_PEOPLE_NOUNS = re.compile(
    r"\b(?:people|persons?|individuals?|patients?|children|adults?|men|women|infants?|elderly|workers?|"
    r"residents?|citizens?|population|officials?|researchers?|scientists?|authors?|physicians?|doctors?|"
    r"nurses?|staff|members?|leaders?|travell?ers?|students?|volunteers?|participants?|subjects?|"
    r"cases|owners?|farmers?|companies|governments?|countries)\b",
    re.IGNORECASE,
)
_NAME_WORDS = ("name", "names", "identity", "identities")  # "the name of …" asks for a name
_ASKS_NAME = re.compile(rf"\b(?:{'|'.join(_NAME_WORDS)}) of\b", re.I)
_LIST_SHAPE = re.compile(r"(?:[^,;]+[,;]){2,}[^,;]+|\b(?:including|such as|include|includes|namely)\b", re.I)


# Nouns that say what kind of thing a "what/which …" question asks for, by kind (general English).
HEAD_NOUNS: dict[str, str] = {
    **dict.fromkeys(
        "date dates day days year years month months decade decades century centuries".split(), "date"
    ),
    **dict.fromkeys(
        "duration durations period periods interval intervals lifespan half-life timeframe timeline".split(),
        "duration",
    ),
    **dict.fromkeys(
        "price prices cost costs value values budget budgets funding revenue revenues fee fees salary "
        "salaries spending investment investments worth".split(),
        "money",
    ),
    **dict.fromkeys(
        "percentage percentages percent proportion proportions share shares fraction fractions rate rates "
        "ratio ratios prevalence incidence frequency likelihood probability odds efficacy sensitivity "
        "specificity tariff tariffs duty duties".split(),
        "percentage",
    ),
    **dict.fromkeys("number numbers count counts".split(), "count"),
    **dict.fromkeys(
        "size sizes amount amounts volume volumes quantity quantities level levels weight weights length "
        "dose doses dosage concentration concentrations temperature speed capacity capacities output "
        "outputs production tonnage magnitude titer titre yield yields grade grades reserves consumption "
        "imports exports population area distance height depth estimate estimates total".split(),
        "quantity",
    ),
    **dict.fromkeys(
        "person persons people official officials author authors scientist scientists researcher "
        "researchers leader leaders minister ministers president presidents secretary chair chairman "
        "director directors officer officers individual individuals specialist specialists expert experts "
        "analyst analysts chief chiefs head commissioner ambassador governor founder founders ceo "
        "spokesperson economist physician physicians doctor doctors inventor man woman men women "
        "signatory signatories member members counterpart counterparts".split(),
        "person",
    ),
    **dict.fromkeys(
        "company companies firm firms agency agencies organisation organisations organization "
        "organizations institution institutions department departments bank banks group groups body "
        "bodies university universities government governments ministry ministries office offices "
        "laboratory laboratories party parties manufacturer manufacturers supplier suppliers hospital "
        "hospitals journal journals publisher publishers".split(),
        "organisation",
    ),
    **dict.fromkeys(
        "country countries city cities region regions province provinces state states place places "
        "location locations site sites continent continents town towns village villages county port "
        "ports".split(),
        "place",
    ),
    **dict.fromkeys(
        "reason reasons cause causes explanation explanations motivation rationale basis".split(), "reason"
    ),
}
_AUX = frozenset(
    "is are was were be been being do does did has have had can could will would shall should may might "
    "must the a an this that these those its their his her our your my".split()
)
_VERBS = frozenset(
    "is are was were do does did has have had can could will would shall should may might must".split()
)
_STOP_SCAN = frozenset("of in for on at by from with to during between among after before since".split())
_LIST_NOUNS = re.compile(
    r"\b(?:types|kinds|forms|symptoms|signs|features|components|elements|steps|stages|factors|categories|"
    r"examples|members|materials|measures|effects|risks|benefits|methods|properties|characteristics|goals|"
    r"objectives|strategies|sources|applications|uses|options|ways|items|actions|commitments|areas|"
    r"priorities|requirements|provisions|tools|products|minerals|metals|things)\b"
)


def _name_of(span: list[str], k: int) -> bool:
    """Whether ``span[k]`` is part of a leading "name(s) of" / "identity of"."""
    if span[k] in _NAME_WORDS and span[k + 1 : k + 2] == ["of"]:
        return True
    return span[k] == "of" and k > 0 and span[k - 1] in _NAME_WORDS


def head_kind(question: str) -> str | None:
    """The kind named by the head of a "what/which …" question ("What was China's estimated mine
    production …" -> quantity; "Which NOAA specialist compiled …" -> person)."""
    words = re.findall(r"[a-z][a-z'’-]*|\d+", question.lower())
    for i, w in enumerate(words[:3]):
        if w in ("what", "which", "whose"):
            seen = 0
            span = [re.sub(r"['’]s$", "", x) for x in words[i + 1 : i + 12]]
            # "the name of the secretary" asks for what "secretary" names: its head is the head
            span = [x for k, x in enumerate(span) if not _name_of(span, k)][:9]
            for j, x in enumerate(span):
                if x in HEAD_NOUNS:
                    # the last of a compound ("party chief", "mine production") is its head
                    while j + 1 < len(span) and span[j + 1] in HEAD_NOUNS:
                        j += 1
                    return HEAD_NOUNS[span[j]]
                if (x in _STOP_SCAN or x in _VERBS) and seen:
                    return None  # past the wh-phrase ("which stages does … count")
                if x not in _AUX:
                    seen += 1
            return None
    return None


def asked_kind(question: str) -> Kind:
    """The kind of answer ``question`` asks for (one clause of a question)."""
    q = re.sub(r"\s+", " ", question.strip().lower())
    q = re.sub(r"^(?:and|but|also|so|then|now|over [^,]+,|in [^,]+,)\s*", "", q)
    q = re.sub(r"^(?:can|could) you (?:tell me|say|explain)\s+", "", q)
    if re.search(r"\b(?:compare[sd]?|comparison|differ(?:s|ed|ence|ences)?|versus|vs\.?)\b", q) or re.search(
        r"\b(?:more|less|greater|higher|lower|larger|smaller|better|worse) than\b.*\bor\b", q
    ):
        return "comparison"
    if re.match(r"^(?:when|since when|by when|until when|till when)\b", q):
        return "date"
    if re.match(r"^how long\b", q) or re.search(
        r"\bhow (?:many|much) (?:time|days|weeks|months|years|hours)\b", q
    ):
        return "duration"
    if re.search(
        r"\bhow much\b.*\b(?:cost|worth|pay|paid|spend|spent|invest|invested|fund|funded|raise|raised|"
        r"charge|money|funding)\b",
        q,
    ):
        return "money"
    if re.search(r"\bhow (?:common|frequent|likely|prevalent)\b", q):
        return "percentage"
    if re.search(r"\bhow many\b", q):
        return "count"
    if re.search(r"\bhow (?:much|large|big|high|low|far|fast|heavy|old|small|deep|tall|wide)\b", q):
        return "quantity"
    if re.match(r"^who (?:is|was|are|were) (?!the |a |an )", q) and re.match(
        r"^\S+ \S+ (?:[A-Z][\w.'’-]*\s?)+\W*$", question.strip()
    ):
        return "definition"  # "Who is Orla Venn?" asks what the text says of a named person
    if re.match(r"^(?:who|whom|whose)\b", q):
        return "person"
    if re.match(r"^where\b", q):
        return "place"
    if re.match(r"^why\b", q) or re.search(
        r"\bwhat (?:caused|causes|led to|leads to|drives|drove)\b|\bhow come\b", q
    ):
        return "reason"
    head = head_kind(q)
    if head:
        return head  # type: ignore[return-value]
    if (
        re.match(r"^(?:list|name|enumerate)\b", q)
        or (
            re.search(r"^(?:what|which) (?:are|were) (?:the )?(?:[a-z-]+ ){0,2}", q) and _LIST_NOUNS.search(q)
        )
        or re.search(r"\bbesides\b|\bother than\b|\bapart from\b", q)
    ):
        return "list"
    if re.match(
        r"^(?:what|who) (?:is|are|was|were) (?:a |an |the )?[^,]{1,60}$", q.rstrip("?")
    ) and not re.search(r"\b(?:of|for|in|on|by|with|from|to|at|between|during|after|before)\b", q):
        return "definition"
    if re.search(
        r"\bwhat (?:does|do|did) .+ (?:mean|stand for|refer to)\b|\bdefin(?:e|ition)\b|\bmeaning of\b", q
    ):
        return "definition"
    if re.match(
        r"^(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|might|must)\b", q
    ):
        return "yesno"
    return "description"


def _question_words(question: str) -> set[str]:
    return {w.lower() for w in WORD.findall(question)}


def names(sentence: str) -> list[str]:
    """Capitalised runs of a sentence within a line, the sentence-initial word aside unless it
    starts a longer run ("The" alone is no name; "World Health Organization" is)."""
    out: list[str] = []
    for m in _NAME.finditer(sentence):
        text = m.group(0).strip()
        start = m.start()
        first = not sentence[:start].strip() or bool(re.search(r"[.!?:]\s*$|\n\s*$", sentence[:start]))
        if first and " " not in text:
            continue
        words = text.split()
        if first and words[0].lower() in STOPWORDS:
            words = words[1:]
        if words and not all(w.lower() in STOPWORDS for w in words):
            out.append(" ".join(words))
    return out


def holds(sentence: str, kind: str, question: str) -> bool:
    """Whether ``sentence`` holds a thing of ``kind`` that ``question`` does not already hold."""
    return kind_count(sentence, kind, question) > 0


def kind_spans(sentence: str, kind: str, question: str) -> list[tuple[int, int]]:
    """Character spans of the things of ``kind`` in ``sentence`` that ``question`` lacks (figures
    for the numeric kinds, names for people and organisations, pattern matches otherwise)."""
    asked = _question_words(question)
    spans: list[tuple[int, int]] = []
    if kind in ("count", "quantity"):
        q_numbers = {m.group(0) for m in NUMBER.finditer(question)}
        spans = [
            m.span()
            for m in NUMBER.finditer(sentence)
            if m.group(0) not in q_numbers and not YEAR.fullmatch(m.group(0))
        ]
    elif kind in PATTERNS:
        for m in PATTERNS[kind].finditer(sentence):
            found = {w.lower() for w in WORD.findall(m.group(0))}
            if kind in ("reason", "definition") or (found and not found <= asked | STOPWORDS):
                spans.append(m.span())
    elif kind in ("person", "organisation"):
        for m in _NAME.finditer(sentence):
            words = {w.lower() for w in WORD.findall(m.group(0))}
            if words and not words <= asked | STOPWORDS:
                spans.append(m.span())
    return spans


def kind_count(sentence: str, kind: str, question: str) -> int:
    """How many things of ``kind`` that ``question`` lacks ``sentence`` holds (for the untyped
    kinds yes/no, comparison and description: 1)."""
    asked = _question_words(question)
    if kind in ("count", "quantity"):
        q_numbers = {m.group(0) for m in NUMBER.finditer(question)}
        # a span of time ("over the next five years") is no amount (time asked for is a duration)
        spans = _spans_of_time(sentence)
        figures = [
            m.group(0)
            for m in NUMBER.finditer(sentence)
            if m.group(0) not in q_numbers
            and not YEAR.fullmatch(m.group(0))
            and not _in_spans(m.start(), spans)
        ]
        words = [
            m.group(0)
            for m in WORD.finditer(sentence)
            if m.group(0).lower() in _NUMBER_WORDS
            and m.group(0).lower() not in asked
            and not _in_spans(m.start(), spans)
        ]
        return len(figures) + len(words)
    if kind in ("reason", "definition"):
        return len(PATTERNS[kind].findall(sentence))
    if kind in PATTERNS:
        n = 0
        for m in PATTERNS[kind].finditer(sentence):
            found = {w.lower() for w in WORD.findall(m.group(0))}
            if found and not found <= asked | STOPWORDS:
                n += 1
        return n
    if kind in ("person", "organisation"):
        n = 0
        for nm in names(sentence):
            words = {w.lower() for w in WORD.findall(nm)}
            if words and not words <= asked | STOPWORDS:
                org = bool(_ORG_WORDS.search(nm) or nm.replace(".", "").isupper())
                if kind == "organisation" and not org:
                    continue
                if kind == "person" and not _personal_name(nm, asked):
                    continue  # a person is named by a name, not an office ("the Secretary of the Interior")
                n += 1
        # "who is at risk?" may be answered by a group ("elderly people"); "the name of …" by a name only
        if (
            not n
            and _PEOPLE_NOUNS.search(sentence)
            and not _PEOPLE_NOUNS.search(question or "")
            and not _ASKS_NAME.search(question or "")
        ):
            n = 1
        return n
    if kind == "place":
        n = 0
        for m in _PLACE_CUE.finditer(sentence):
            words = {w.lower() for w in WORD.findall(m.group(0))} - STOPWORDS
            if words and not words <= asked:
                n += 1
        # a country is a place however the sentence introduces it ("China, 70%; Malaysia, 13%")
        n += sum(1 for c in countries(sentence) if not set(c.lower().split()) <= asked)
        return n or int(bool(_LOCATION_PHRASE.search(sentence)))
    if kind == "list":
        return len(re.findall(r"[,;]", sentence)) + 1 if _LIST_SHAPE.search(sentence) else 0
    return 1  # yes/no, comparison, description: any sentence may answer


def _spans_of_time(sentence: str) -> list[tuple[int, int]]:
    """Where ``sentence`` counts time ("five years", "90 days", "three to five years", "5-10
    years"): the spans the ``duration`` pattern matches."""
    return [m.span() for m in PATTERNS["duration"].finditer(sentence)]


def _in_spans(at: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= at < b for a, b in spans)


@lru_cache(maxsize=1)
def _country_pattern() -> re.Pattern[str]:
    import pycountry  # ISO 3166 names; imported when a question first asks for a place

    found: set[str] = set()
    for c in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            name = getattr(c, attr, None)
            if name and "," not in name and "(" not in name:
                found.add(name)
    alternatives = "|".join(re.escape(n) for n in sorted(found, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b")


def countries(sentence: str) -> list[str]:
    """The country names (ISO 3166 short, common and official names) ``sentence`` holds."""
    return _country_pattern().findall(sentence)


def _personal_name(run: str, asked: set[str]) -> bool:
    """Whether a capitalised run holds a personal name: two or more consecutive capitalised
    words that are neither titles nor institution words, not all in the question
    ("Harbour Master Orla Venn" does; "Secretary of the Interior" does not)."""
    streak: list[str] = []
    portfolio = False  # the streak names an office's remit ("Secretary of Commerce", "… for Economic Policy")
    previous: list[str] = []
    for w in WORD.findall(run):
        if (
            w[0].isupper()
            and not w.isupper()
            and not _TITLE_WORDS.fullmatch(w)
            and not _ORG_WORDS.fullmatch(w)
            and not _GEO_WORDS.fullmatch(w)
        ):
            if not streak:
                portfolio = _after_title(previous)
            streak.append(w.lower())
            # a remit takes one or two words; a third is a name ("Secretary of Commerce Ada Quill")
            if len(streak) >= (3 if portfolio else 2) and not set(streak) <= asked:
                return True
        elif not (len(w) == 1 and w.isupper()):  # an initial ("Donald J. Trump") keeps the streak
            streak = []
        previous.append(w)
    return False


def _after_title(previous: list[str]) -> bool:
    """Whether the words so far end in a title and a preposition ("Director of", "President for the")."""
    tail = [w for w in previous[-3:] if w.lower() != "the"]
    return (
        len(tail) >= 2
        and tail[-1].lower() in ("of", "for", "on", "to")
        and bool(_TITLE_WORDS.fullmatch(tail[-2]))
    )


def _has_new_number(sentence: str, question: str) -> bool:
    asked = {m.group(0) for m in NUMBER.finditer(question)}
    return any(m.group(0) not in asked and not YEAR.fullmatch(m.group(0)) for m in NUMBER.finditer(sentence))
