"""Search across the public record: one function, `search()`, whatever the database.

What is searched is the `SearchEntry` table: one row per public object (party, theme, instrument, commitment,
published update) and language, written only by `search_index_refresh` / `search_index_rebuild`, which the
services call for the objects their writes change (never signals or save()). Drafts, returned and deleted
updates and deleted commitments have no row, so they can never be found.

Backends:
- PostgreSQL: full-text search (`django.contrib.postgres.search`) on the entry's stored `vector` (title weighted
  A, body B, built in the language's configuration: english, french, simple otherwise), a GIN index on it
  (migration 0014), ranked by `SearchRank`.
- SQLite: an FTS5 table mirroring each entry's title and body (porter stemmer over unicode61 words), ranked by
  bm25 with the title weighted ten times the body.
- Queries with Chinese or Japanese characters (written without spaces) take the same substring path on both
  backends: each such word must occur in the title or body.

The user's text never reaches a query language: it is cut to MAX_QUERY_LENGTH characters and split into
words (letters and digits only); each word becomes a quoted prefix term (`'word':*` for PostgreSQL,
`"word"*` for FTS5), all of them required, in any order. Words of one letter and the language's stop words
are dropped on both backends alike, so both give the same answers. Highlighting is done here, in Python, the
same for both: the text is escaped and only the `<mark>` elements are ours.
"""

import functools
import html
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import Case, Count, ExpressionWrapper, F, IntegerField, Q, Sum, TextField, Value, When, Window
from django.db.models.functions import Replace, RowNumber
from django.urls import reverse
from django.utils.html import escape, strip_tags
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import override

from .i18n import SOURCE_LANGUAGE, language_codes, list_of, localized_name, translated_fields
from .links import slug_url
from .models import Commitment, Instrument, Party, PartyStatusCount, ProgressUpdate, SearchEntry, Source, Theme
from .rendering import render_markdown

Kind = SearchEntry.Kind
KIND_ORDER = (Kind.PARTY, Kind.THEME, Kind.INSTRUMENT, Kind.COMMITMENT, Kind.UPDATE)
# The query is cut to this many characters, and to this many words: longer input is said to be cut.
MAX_QUERY_LENGTH = 200
MAX_WORDS = 10
RESULTS_PER_KIND = 10
SNIPPET_LENGTH = 220
FTS_TABLE = "aitracker_searchentry_fts"
# bm25's weights of the FTS5 columns (title, body); PostgreSQL's weights A and B are 1.0 and 0.4.
FTS_WEIGHTS = (10.0, 1.0)
CONFIGS = {"en": "english", "fr": "french"}
# ts_rank divided by the entry's length, as bm25 weighs a word in a short text above one in a long one.
NORMALIZATION = 2
WORD = re.compile(r"[^\W_]+")
CJK = re.compile(r"[\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def _word_set(words: str) -> frozenset:
    return frozenset(words.split())


# PostgreSQL's stop words (english.stop and french.stop, Snowball's lists): dropped from the query on every
# backend, since PostgreSQL leaves them out of its index and FTS5 does not.
STOP_WORDS = {
    "en": _word_set(
        "i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers "
        "herself it its itself they them their theirs themselves what which who whom this that these those am is "
        "are was were be been being have has had having do does did doing a an the and but if or because as "
        "until while of at by for with about against between into through during before after above below to "
        "from up down in out on off over under again further then once here there when where why how all any "
        "both each few more most other some such no nor not only own same so than too very s t can will just "
        "don should now"
    ),
    "fr": _word_set(
        "au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma mais me même mes moi "
        "mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos "
        "votre vous c d j l à m n s t y été étée étées étés étant suis es est sommes êtes sont serai seras sera "
        "serons serez seront ai as avons avez ont eu eue eues eus"
    ),
}
SUFFIXES = ("ations", "ation", "ities", "ity", "ies", "ing", "ed", "es", "s", "y", "e")


# --- The query -------------------------------------------------------------------------------------------


@dataclass
class ParsedQuery:
    text: str  # what is searched: the input, stripped and cut
    words: list = field(default_factory=list)
    cjk: bool = False
    truncated: bool = False
    problem: str = ""  # why nothing was searched, for the visitor


def parse_query(raw: str, *, language: str) -> ParsedQuery:
    raw = (raw or "").replace("\x00", " ").strip()
    truncated = len(raw) > MAX_QUERY_LENGTH
    text = raw[:MAX_QUERY_LENGTH].strip()
    if not text:
        return ParsedQuery(text="", problem=_("Type a word or two to search for."))
    words = [word.lower() for word in WORD.findall(text)]
    if not words:
        return ParsedQuery(text=text, truncated=truncated, problem=_("Search for words: symbols alone find nothing."))
    cjk = any(CJK.search(word) for word in words)
    if not cjk:
        stop = STOP_WORDS.get(_base_language(language), frozenset())
        words = [word for word in words if len(word) > 1 and word not in stop]
        if not words:
            return ParsedQuery(
                text=text,
                truncated=truncated,
                problem=_(
                    "Search for at least one word of two letters or more (common words such as “the” are left out)."
                ),
            )
    unique = list(dict.fromkeys(words))
    truncated = truncated or len(unique) > MAX_WORDS
    return ParsedQuery(text=text, words=unique[:MAX_WORDS], cjk=cjk, truncated=truncated)


def _base_language(language: str) -> str:
    return (language or settings.LANGUAGE_CODE).split("-")[0].lower()


def index_language(language: str) -> str:
    """The indexed language closest to `language` (a code of settings.LANGUAGES)."""
    codes = [code for code, _name in settings.LANGUAGES]
    language = (language or settings.LANGUAGE_CODE).lower()
    if language in codes:
        return language
    base = _base_language(language)
    return next((code for code in codes if _base_language(code) == base), settings.LANGUAGE_CODE)


def config_of(language: str) -> str:
    return CONFIGS.get(_base_language(language), "simple")


# --- Highlighting ------------------------------------------------------------------------------------------


def _stem(word: str) -> str:
    """A crude stem for highlighting only ("energy" marks "energies"): the backends' stemmers decide matches."""
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _match_spans(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    if query.cjk:
        pattern = re.compile("|".join(re.escape(word) for word in query.words), re.IGNORECASE)
        return [match.span() for match in pattern.finditer(text)]
    stems = [_stem(word) for word in query.words]
    return [match.span() for match in WORD.finditer(text) if any(match.group().lower().startswith(s) for s in stems)]


def highlight(text: str, query: ParsedQuery, *, spans=None):
    """`text`, escaped, with the words that match the query in <mark>."""
    spans = _match_spans(text, query) if spans is None else spans
    pieces, position = [], 0
    for start, end in spans:
        pieces.append(escape(text[position:start]))
        pieces.append(f"<mark>{escape(text[start:end])}</mark>")
        position = end
    pieces.append(escape(text[position:]))
    return mark_safe("".join(pieces))


def snippet(text: str, query: ParsedQuery, *, length: int = SNIPPET_LENGTH):
    """A passage of `text` around its first match (its start if none), highlighted."""
    text = " ".join(text.split())
    spans = _match_spans(text, query)
    start = 0
    if spans and spans[0][0] > length // 3:
        start = text.rfind(" ", 0, spans[0][0] - length // 3) + 1
    end = start + length
    if end < len(text):
        end = max(text.rfind(" ", start, end), start + length // 2)
    passage = text[start:end]
    shifted = [(s - start, e - start) for s, e in spans if s >= start and e <= end]
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    return mark_safe(f"{prefix}{highlight(passage, query, spans=shifted)}{suffix}")


# --- Searching ---------------------------------------------------------------------------------------------


@dataclass
class Hit:
    kind: str
    object_id: int
    url: str
    heading: str
    context: str
    date: object
    snippet: str
    rank: float
    commitment_count: int | None = None  # a party's: how many commitments bind it
    commitments_url: str = ""


@dataclass
class Group:
    kind: str
    label: str
    total: int
    hits: list


@dataclass
class SearchResults:
    query: ParsedQuery
    language: str
    groups: list = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(group.total for group in self.groups)

    def ids(self, kind) -> list[int]:
        """The object ids of one kind, best first."""
        return [hit.object_id for group in self.groups if group.kind == kind for hit in group.hits]

    def group(self, kind):
        return next((group for group in self.groups if group.kind == kind), None)


def _kinds(kinds) -> list[str]:
    if not kinds:
        return list(KIND_ORDER)
    wanted = {str(kind) for kind in kinds}
    return [kind for kind in KIND_ORDER if kind in wanted]


def _ranked_window(queryset, rank, limit):
    """(entry id, kind, rank, kind's total, object id) of the best `limit` entries of each kind (all if None)."""
    rows = queryset.annotate(
        rank=rank,
        position=Window(RowNumber(), partition_by=[F("kind")], order_by=[F("rank").desc(), F("pk").asc()]),
        kind_total=Window(Count("pk"), partition_by=[F("kind")]),
    )
    if limit is not None:
        rows = rows.filter(position__lte=limit)
    return list(rows.order_by().values_list("pk", "kind", "rank", "kind_total", "object_id"))


def _postgresql_matches(query, language, kinds, limit):
    terms = " & ".join(f"'{word}':*" for word in query.words)  # words are letters and digits only
    tsquery = SearchQuery(terms, search_type="raw", config=config_of(language))
    entries = SearchEntry.objects.filter(language=language, kind__in=kinds, vector=tsquery)
    return _ranked_window(entries, SearchRank(F("vector"), tsquery, normalization=Value(NORMALIZATION)), limit)


def _sqlite_matches(query, language, kinds, limit):
    match = " ".join(f'"{word}"*' for word in query.words)  # words are letters and digits only
    kind_marks = ", ".join(["%s"] * len(kinds))
    # bm25 is lower for a better match: its negation sorts like PostgreSQL's rank.
    sql = f"""
        SELECT entry_id, kind, rank, kind_total, object_id FROM (
            SELECT e.id AS entry_id, e.kind AS kind, m.rank AS rank, e.object_id AS object_id,
                   ROW_NUMBER() OVER (PARTITION BY e.kind ORDER BY m.rank DESC, e.id) AS position,
                   COUNT(*) OVER (PARTITION BY e.kind) AS kind_total
            FROM (
                SELECT rowid AS rowid, -bm25({FTS_TABLE}, {FTS_WEIGHTS[0]}, {FTS_WEIGHTS[1]}) AS rank
                FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s
            ) AS m
            JOIN {SearchEntry._meta.db_table} AS e ON e.id = m.rowid
            WHERE e.language = %s AND e.kind IN ({kind_marks})
        ) WHERE %s IS NULL OR position <= %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, language, *kinds, limit, limit])
        return cursor.fetchall()


def _substring_matches(query, language, kinds, limit):
    """Every word somewhere in the title or body; entries with more words in the title first."""
    entries = SearchEntry.objects.filter(language=language, kind__in=kinds)
    for word in query.words:
        entries = entries.filter(Q(title__icontains=word) | Q(body__icontains=word))
    rank = sum(
        (Case(When(title__icontains=word, then=Value(1)), default=Value(0)) for word in query.words),
        Value(0),
    )
    return _ranked_window(entries, ExpressionWrapper(rank, output_field=IntegerField()), limit)


def _matches(query, language, kinds, limit):
    if query.cjk or connection.vendor not in ("postgresql", "sqlite"):
        return _substring_matches(query, language, kinds, limit)
    if connection.vendor == "postgresql":
        return _postgresql_matches(query, language, kinds, limit)
    return _sqlite_matches(query, language, kinds, limit)


def search(raw: str, *, language: str, kinds=None, limit: int | None = RESULTS_PER_KIND) -> SearchResults:
    """The public objects matching `raw` in `language`, grouped by kind (parties, themes, instruments,
    commitments, updates), the best `limit` of each (every one if None) with each kind's total. A query that
    cannot be searched (empty, symbols, one letter) comes back with `query.problem` set and no groups."""
    language = index_language(language)
    query = parse_query(raw, language=language)
    results = SearchResults(query=query, language=language)
    kinds = _kinds(kinds)
    if query.problem or not kinds:
        return results
    rows = _matches(query, language, kinds, limit)
    if not rows:
        return results
    entries = SearchEntry.objects.only("kind", "object_id", "url", "heading", "context", "date", "body").in_bulk(
        [row[0] for row in rows]
    )
    by_kind, totals = defaultdict(list), {}
    for entry_id, kind, rank, total, _object_id in rows:
        by_kind[kind].append((rank, entry_id))
        totals[kind] = total
    party_counts = {}
    if by_kind.get(Kind.PARTY):
        # How many commitments bind each party found (its kept counts), with its slug for the table's link.
        party_ids = [entries[entry_id].object_id for _rank, entry_id in by_kind[Kind.PARTY]]
        rows = (
            PartyStatusCount.objects.public()
            .filter(party__in=party_ids)
            .order_by()
            .values_list("party", "party__slug")
            .annotate(n=Sum("count"))
        )
        party_counts = {party: (slug, count) for party, slug, count in rows if count}
    for kind in kinds:
        if kind not in by_kind:
            continue
        hits = []
        for rank, entry_id in sorted(by_kind[kind], key=lambda pair: (-pair[0], pair[1])):
            entry = entries[entry_id]
            hit = Hit(
                kind=kind,
                object_id=entry.object_id,
                url=entry.url,
                heading=highlight(entry.heading, query),
                context=entry.context,
                date=entry.date,
                snippet=snippet(entry.body, query),
                rank=rank,
            )
            if kind == Kind.PARTY:
                slug, hit.commitment_count = party_counts.get(entry.object_id, ("", 0))
                if hit.commitment_count:
                    hit.commitments_url = f"{reverse('commitment_list')}?{urlencode({'party': slug})}"
            hits.append(hit)
        results.groups.append(Group(kind=kind, label=Kind(kind).label, total=totals[kind], hits=hits))
    return results


def commitment_ids(raw: str, *, language: str) -> list[int] | None:
    """The ids of every public commitment matching `raw` (the commitments table's `q`); None if the query
    cannot be searched (the table then shows everything, and says why)."""
    language = index_language(language)
    query = parse_query(raw, language=language)
    if query.problem:
        return None
    # Only the ids: no entry is read, nothing highlighted.
    rows = _matches(query, language, [Kind.COMMITMENT], None)
    return [row[4] for row in sorted(rows, key=lambda row: (-row[2], row[0]))]


# --- The index ---------------------------------------------------------------------------------------------


def _text(obj, name: str, language: str) -> str:
    """The field's text in `language`: its translation (`title_fr`, as django-modeltranslation names it) when
    the model has one and it is filled in, else the field itself."""
    value = getattr(obj, f"{name}_{language.replace('-', '_')}", None)
    if not value:
        value = getattr(obj, name, "")
    return str(value or "")


def _entries_of_parties(pks, language):
    for party in Party.objects.public().filter(pk__in=pks):
        country = str(party.country.name) if party.country else ""
        name = _text(party, "name", language)
        yield SearchEntry(
            kind=Kind.PARTY,
            object_id=party.pk,
            title=name,
            heading=name,
            # The country's name in the language, when it is not the party's own ("Türkiye", "Turkey").
            body=country if country.lower() != name.lower() else "",
            context=str(party.get_kind_display()),
            url=party.get_absolute_url(),
        )


def _entries_of_themes(pks, language):
    for theme in Theme.objects.public().filter(pk__in=pks):
        yield SearchEntry(
            kind=Kind.THEME,
            object_id=theme.pk,
            title=_text(theme, "name", language),
            heading=_text(theme, "name", language),
            body=_text(theme, "description", language),
            url=theme.get_absolute_url(),
        )


def _entries_of_instruments(pks, language):
    for instrument in Instrument.objects.public().filter(pk__in=pks):
        title, short = _text(instrument, "title", language), _text(instrument, "short_title", language)
        yield SearchEntry(
            kind=Kind.INSTRUMENT,
            object_id=instrument.pk,
            title=title if short.lower() in title.lower() else f"{title} {short}",
            heading=title,
            body=" ".join(filter(None, [_text(instrument, "summary", language), instrument.place])),
            context=str(instrument.get_kind_display()),
            date=instrument.adopted_on,
            url=instrument.get_absolute_url(),
        )


def _columns(model, *names) -> list[str]:
    """What a row builder reads of `model`: a translated field's column in every language (never the field's own
    column, which modeltranslation's descriptor does not read either), any other field as it is. Named so, they
    are read with modeltranslation's rewriting off (`rewrite(False)`): it has nothing to rewrite in them, and its
    values() rebuilt each row's dict twice, a tenth of the rebuild at 300,000 updates."""
    translated = set(translated_fields(model))
    columns = []
    for name in names:
        columns += [localized_name(name, code) for code in language_codes()] if name in translated else [name]
    return columns


@functools.cache
def _row_columns(name: str, language: str) -> tuple[str, str, str]:
    return localized_name(name, language), localized_name(name, SOURCE_LANGUAGE), name


def _row_text(row: dict, name: str, language: str) -> str:
    """_text for a values() row read with _columns: the language's column if filled in, else the English one
    (modeltranslation's fallback); a field that is not translated is read as it is."""
    own, english, plain = _row_columns(name, language)
    return str(row.get(own) or row.get(english) or row.get(plain) or "")


# Tags without attributes, the only markup of most rendered summaries: see _plain.
SIMPLE_TAG = re.compile(r"</?(?:p|strong|em)>")


def _plain(rendered: str) -> str:
    """html.unescape(strip_tags(rendered)). When the HTML holds nothing but simple tags around text without
    entities, removing the tags gives exactly that, some fifty times faster than Django's HTML parser."""
    text = SIMPLE_TAG.sub("", rendered)
    if "<" in text or ">" in text or "&" in text:
        return html.unescape(strip_tags(rendered))
    return text


def _by_chunk(rows, pks):
    """`rows` (values() dicts, in the model's order) split by CHUNK of the sorted `pks`: the entries are
    written chunk by chunk, each language in turn, in the model's order, and their ids break ties of rank."""
    chunk_of = {pk: index // CHUNK for index, pk in enumerate(pks)}
    chunks = defaultdict(list)
    for row in rows:
        chunks[chunk_of[row["id"]]].append(row)
    return [chunks[index] for index in sorted(chunks)]


def _instruments_by_pk(pks) -> dict:
    rows = Instrument.objects.filter(pk__in=pks).rewrite(False).values(*_columns(Instrument, "id", "short_title"))
    return {row["id"]: row for row in rows}


def _theme_orders() -> dict:
    """{language: {theme id: position}}: themes in the order the model gives them in each language (by their
    name in it, modeltranslation rewriting the ordering), the id between equal names."""
    orders = {}
    for language in language_codes():
        pks = Theme.objects.order_by(localized_name("name", language), "pk").values_list("pk", flat=True)
        orders[language] = {pk: index for index, pk in enumerate(pks)}
    return orders


def _commitment_rows(pks) -> list:
    """Commitments read as values() rather than models with prefetches: the rebuild writes one entry per
    commitment and language, and building them from models took most of its time."""
    return list(
        Commitment.objects.public()
        .filter(pk__in=pks)
        .rewrite(False)
        .values(*_columns(Commitment, "id", "instrument_id", "slug", "reference", "title", "text"))
    )


def _rows_of_commitments(pks):
    rows = _commitment_rows(pks)
    instruments = _instruments_by_pk({row["instrument_id"] for row in rows})
    links = defaultdict(list)
    for commitment, theme in Commitment.themes.through.objects.filter(commitment__in=pks).values_list(
        "commitment_id", "theme_id"
    ):
        links[commitment].append(theme)
    themes = {row["id"]: row for row in Theme.objects.values(*_columns(Theme, "id", "name"))}
    orders = _theme_orders()
    for chunk in _by_chunk(rows, sorted(pks)):
        for language in language_codes():
            with override(language):
                url = slug_url("commitment_detail", "-slug-").partition("-slug-")
                for row in chunk:
                    reference, title = _row_text(row, "reference", language), _row_text(row, "title", language)
                    # Its themes' names too: "energy" finds the commitments of the theme "Sustainability and
                    # energy"; after the text as a list ("… · Inclusive AI, Sustainability and energy"), so that a
                    # snippet reads as words, not one run of names.
                    names = [
                        _row_text(themes[theme], "name", language)
                        for theme in sorted(links[row["id"]], key=orders[language].__getitem__)
                    ]
                    instrument = _row_text(instruments[row["instrument_id"]], "short_title", language)
                    yield (
                        Kind.COMMITMENT,
                        row["id"],
                        language,
                        f"{reference} {title}",
                        title,
                        _row_text(row, "text", language) + (f" · {list_of(names)}" if names else ""),
                        f"{instrument} {reference}",
                        f"{url[0]}{row['slug']}{url[2]}",
                        None,
                    )


def _rows_of_updates(pks):
    rows = list(
        ProgressUpdate.objects.public()
        .filter(pk__in=pks)
        .rewrite(False)
        .values(*_columns(ProgressUpdate, "id", "commitment_id", "reported_on", "summary", "summary_html"))
    )
    commitments = {row["id"]: row for row in _commitment_rows({row["commitment_id"] for row in rows})}
    instruments = _instruments_by_pk({row["instrument_id"] for row in commitments.values()})
    sources = defaultdict(list)
    # Sources are not translated: their titles and publishers are the same in every language.
    for update, title, publisher in Source.objects.filter(update__in=pks).values_list(
        "update_id", "title", "publisher"
    ):
        sources[update].append((title, publisher))
    # The seed writes millions of these entries: what is the same in every language (the sources' part) is
    # worked out once per update, what is the same for a commitment's updates once per commitment and language.
    shown = {}
    for row in rows:
        titles_publishers = sources.get(row["id"], ())
        publishers = sorted({publisher for _title, publisher in titles_publishers if publisher})
        shown[row["id"]] = (
            " · ".join(title for title, _publisher in titles_publishers)[:500],
            "".join(f" {publisher}" for publisher in publishers),  # what " ".join([text, *publishers]) adds
        )
    for chunk in _by_chunk(rows, sorted(pks)):
        for language in language_codes():
            with override(language):
                url = slug_url("commitment_detail", "-slug-").partition("-slug-")
                own, english, _plain_name = _row_columns("summary", language)
                own_html, english_html, _plain_html = _row_columns("summary_html", language)
                plain, of_commitment = {}, {}
                for row in chunk:
                    commitment_id = row["commitment_id"]
                    try:
                        heading, context, link = of_commitment[commitment_id]
                    except KeyError:
                        commitment = commitments[commitment_id]
                        instrument = instruments[commitment["instrument_id"]]
                        heading = _row_text(commitment, "title", language)
                        context = (
                            f"{_row_text(instrument, 'short_title', language)} "
                            f"{_row_text(commitment, 'reference', language)}"
                        )
                        link = f"{url[0]}{commitment['slug']}{url[2]}#update-"
                        of_commitment[commitment_id] = heading, context, link
                    # _row_text of the summary and its HTML: the language's column, else the English one.
                    rendered = row[own_html] or row[english_html] or ""
                    if not rendered:
                        rendered = render_markdown(str(row[own] or row[english] or ""))
                    # Most languages fall back to the English summary: strip each rendering once.
                    try:
                        text = plain[rendered]
                    except KeyError:
                        text = plain[rendered] = _plain(rendered)
                    title, publishers = shown[row["id"]]
                    yield (
                        Kind.UPDATE,
                        row["id"],
                        language,
                        title,
                        heading,
                        text + publishers,
                        context,
                        f"{link}{row['id']}",
                        row["reported_on"],
                    )


ENTRY_FIELDS = ("kind", "object_id", "language", "title", "heading", "body", "context", "url", "date")
# The entries of a kind, as tuples of ENTRY_FIELDS, built from their objects' rows.
ROW_BUILDERS = {Kind.COMMITMENT: _rows_of_commitments, Kind.UPDATE: _rows_of_updates}
BUILDERS = {
    Kind.PARTY: _entries_of_parties,
    Kind.THEME: _entries_of_themes,
    Kind.INSTRUMENT: _entries_of_instruments,
}
MODEL_KINDS = {Party: Kind.PARTY, Theme: Kind.THEME, Instrument: Kind.INSTRUMENT, Commitment: Kind.COMMITMENT}
MODEL_KINDS[ProgressUpdate] = Kind.UPDATE
CHUNK = 500
# How many objects a row builder reads at a time: fewer, larger queries; CHUNK still orders the entries.
BLOCK = 40 * CHUNK


def _entry_rows(kind, pks):
    """The entries of these objects (sorted ids) as tuples of ENTRY_FIELDS, in the order they are written:
    chunk by chunk of CHUNK objects, each language in turn, objects in their model's order."""
    if kind in ROW_BUILDERS:
        for start in range(0, len(pks), BLOCK):
            yield from ROW_BUILDERS[kind](pks[start : start + BLOCK])
        return
    for start in range(0, len(pks), CHUNK):
        for language, _name in settings.LANGUAGES:
            with override(language):
                for entry in BUILDERS[kind](pks[start : start + CHUNK], language):
                    yield (
                        kind,
                        entry.object_id,
                        language,
                        entry.title,
                        entry.heading,
                        entry.body,
                        entry.context,
                        entry.url,
                        entry.date,
                    )


def _cut(row):
    """The entry with its text fields cut to their columns' length (500); the body is not cut."""
    kind, object_id, language, title, heading, body, context, url, date = row
    return (kind, object_id, language, title[:500], heading[:500], body, context[:500], url[:500], date)


def search_targets(objects) -> dict[str, set[int]]:
    """{kind: object ids} whose entries depend on these objects: a theme's commitments hold its name, an
    instrument's commitments and updates show its name, a commitment's updates show its title.
    Read before a delete, so that the dependents are known."""
    targets = defaultdict(set)
    for obj in objects:
        kind = MODEL_KINDS.get(type(obj))
        if kind is not None and obj.pk is not None:
            targets[kind].add(obj.pk)
    if targets[Kind.THEME]:
        targets[Kind.COMMITMENT] |= set(
            Commitment.objects.filter(themes__in=targets[Kind.THEME]).values_list("pk", flat=True)
        )
    if targets[Kind.INSTRUMENT]:
        targets[Kind.COMMITMENT] |= set(
            Commitment.objects.filter(instrument__in=targets[Kind.INSTRUMENT]).values_list("pk", flat=True)
        )
    if targets[Kind.COMMITMENT]:
        targets[Kind.UPDATE] |= set(
            ProgressUpdate.objects.filter(commitment__in=targets[Kind.COMMITMENT]).values_list("pk", flat=True)
        )
    return targets


def search_index_refresh(*, objects=(), targets=None) -> None:
    """Make the entries of these objects (and of those that show them) what they now are: rebuilt if public,
    gone if not. Called by the services in the write's transaction."""
    targets = search_targets(objects) if targets is None else targets
    for kind, pks in targets.items():
        pks = sorted(pks)
        for start in range(0, len(pks), CHUNK):
            _refresh_chunk(kind, pks[start : start + CHUNK])


def _refresh_chunk(kind, pks) -> None:
    old = list(SearchEntry.objects.filter(kind=kind, object_id__in=pks).values_list("pk", flat=True))
    if old:
        _backend_delete(old)
        SearchEntry.objects.filter(pk__in=old).delete()
    entries = [SearchEntry(**dict(zip(ENTRY_FIELDS, _cut(row), strict=True))) for row in _entry_rows(kind, pks)]
    if entries:
        SearchEntry.objects.bulk_create(entries, batch_size=CHUNK)
        _backend_insert(entries)


def search_index_rebuild() -> int:
    """Every entry afresh (after loading data); returns how many there are. The same entries, in the same
    order, as search_index_refresh of every public object, but written as plain rows (COPY on PostgreSQL)
    and indexed in one statement at the end: the seed of the benchmark writes millions of them."""
    if connection.vendor == "sqlite":
        _fts_empty()
    SearchEntry.objects.all().delete()
    targets = {
        Kind.PARTY: Party.objects.public(),
        Kind.THEME: Theme.objects.public(),
        Kind.INSTRUMENT: Instrument.objects.public(),
        Kind.COMMITMENT: Commitment.objects.public(),
        Kind.UPDATE: ProgressUpdate.objects.public(),
    }
    for kind, queryset in targets.items():
        pks = sorted(queryset.values_list("pk", flat=True))
        batch = []
        for row in _entry_rows(kind, pks):
            batch.append(_cut(row))
            if len(batch) >= BLOCK:
                _insert_entries(batch)
                batch = []
        _insert_entries(batch)
    with connection.cursor() as cursor:
        table = SearchEntry._meta.db_table
        if connection.vendor == "sqlite":
            cursor.execute(f"INSERT INTO {FTS_TABLE} (rowid, title, body) SELECT id, title, body FROM {table}")
        elif connection.vendor == "postgresql":
            for language, _name in settings.LANGUAGES:
                SearchEntry.objects.filter(language=language).update(vector=_vector(language))
    return SearchEntry.objects.count()


def _fts_empty() -> None:
    """Empty the FTS5 table: dropped and created again from its own definition. A DELETE reads every row back
    to take its words out of the index, minutes for the millions of entries of a large seed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE])
        (definition,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {FTS_TABLE}")
        cursor.execute(definition)


def _insert_entries(rows) -> None:
    """Plain rows of ENTRY_FIELDS into the entries' table, ids in the rows' order: COPY on PostgreSQL, one
    statement for every row elsewhere (bulk_create spends longer building its SQL than the database writing)."""
    if not rows:
        return
    ops = connection.ops
    table = ops.quote_name(SearchEntry._meta.db_table)
    column_list = ", ".join(ops.quote_name(SearchEntry._meta.get_field(name).column) for name in ENTRY_FIELDS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        # One prepared statement stepped row by row in C (sqlite3's executemany), the date as the field stores it.
        adapt = ops.adapt_datefield_value
        rows = [(*row[:-1], adapt(row[-1])) if row[-1] is not None else row for row in rows]
        marks = ", ".join(["%s"] * len(ENTRY_FIELDS))
        cursor.executemany(f"INSERT INTO {table} ({column_list}) VALUES ({marks})", rows)


def _backend_delete(entry_ids) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for start in range(0, len(entry_ids), CHUNK):
                chunk = entry_ids[start : start + CHUNK]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})", chunk)


def _backend_insert(entries) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # A row an earlier, flushed table left under a reused id would refuse the insert.
            _backend_delete([entry.pk for entry in entries])
            cursor.executemany(
                f"INSERT INTO {FTS_TABLE} (rowid, title, body) VALUES (%s, %s, %s)",
                [(entry.pk, entry.title, entry.body) for entry in entries],
            )
    elif connection.vendor == "postgresql":
        by_language = defaultdict(list)
        for entry in entries:
            by_language[entry.language].append(entry.pk)
        for language, pks in by_language.items():
            SearchEntry.objects.filter(pk__in=pks).update(vector=_vector(language))


def _vector(language):
    """The entry's tsvector in the language's configuration: the title weighted A, the body B."""
    config = config_of(language)
    return SearchVector(_untagged("title"), weight="A", config=config) + SearchVector(
        _untagged("body"), weight="B", config=config
    )


def _untagged(column):
    """The column with < and > as spaces: PostgreSQL's parser drops anything that looks like an HTML tag
    ("<script>"), which FTS5 reads as a word; text is text on both."""
    text = TextField()
    return Replace(
        Replace(F(column), Value("<", output_field=text), Value(" ", output_field=text), output_field=text),
        Value(">", output_field=text),
        Value(" ", output_field=text),
        output_field=text,
    )
