"""HTML fragments shared across pages and addresses, kept under the data generation (aitracker/cache.py).

A page the page cache has not seen (a new mix of filters, sort and page, which is all a crawler asks for, and
every page a staff member sees) is built from pieces that many addresses share: a commitment's row of the
table, its timeline, a party's tables, the dashboard's panels. Each piece is kept in Django's cache under a key
that holds the data generation, the language and the day; so, like a cached page, it can never outlive the
write that changes it (every write the public can see moves the generation, in its own transaction), and the
calendar moves it too (staleness and "as of today" are counted by the day).

The key also holds what the piece depends on besides the data (`parts`: a commitment's key, an as-of day, a
filter value): two addresses that would render the same piece share it. A piece is kept only when no write
committed while it was rendered, as for the kept counts (cache.cached_summary).

`cached_fragments()` reads many pieces in one call (`get_many`: one round trip to Redis), renders those
missing and keeps them in one `set_many`. `{% fragment %}` (templatetags/aitracker_tags.py) keeps a block of a
template the same way. Off when AITRACKER_FRAGMENT_CACHE_SECONDS is 0 (as in most tests, and the benchmark's
"cold" mode): then every piece is rendered, and the page is the same, byte for byte.
"""

from django.conf import settings
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from .cache import _cache_call, _current_request, cache_is_down, current_generation, read_generation
from .compression import MIN_PIECE_BYTES, deflate_piece, inflate_piece, note_piece

FRAGMENT_KEY_PREFIX = "aitracker:fragment"
# Their own cache where settings.CACHES has one (apart from the pages in each worker's memory), else the default.
CACHE_ALIAS = "fragments"


def fragment_seconds() -> int:
    return settings.AITRACKER_FRAGMENT_CACHE_SECONDS


def _part_text(part) -> str:
    if isinstance(part, tuple | list):
        return ",".join(_part_text(item) for item in part)
    return "" if part is None else str(part)


def fragment_prefix(generation: int, name: str) -> str:
    """What the keys of a piece share: the generation, the language, the day and the piece's name."""
    return f"{FRAGMENT_KEY_PREFIX}:{generation}:{get_language()}:{timezone.localdate().isoformat()}:{name}:"


def cached_pieces(name: str, parts, compute, *, request=None) -> dict:
    """{part: value} for every part of `parts`: those kept under this generation read in one get_many, the
    others from compute(missing_parts) (which returns {part: value}; a part it leaves out is not shown) and
    kept in one set_many. The values must be plain data (strings, numbers, tuples): they are pickled."""
    parts = list(parts)
    if not parts:
        return {}
    seconds = fragment_seconds()
    if seconds <= 0:
        return compute(parts)
    # The request's generation (read once per request), that of the public view being served, else read now.
    generation = current_generation(request)
    prefix = fragment_prefix(generation, name)
    keys = {part: prefix + _part_text(part) for part in parts}
    found = _cache_call("get_many", list(keys.values()), default={}, alias=CACHE_ALIAS) or {}
    result = {part: found[key] for part, key in keys.items() if key in found}
    missing = [part for part in parts if part not in result]
    if missing:
        computed = compute(missing)
        result.update(computed)
        # Kept only if no write committed since the generation was read: then it is that generation's data.
        if computed and not cache_is_down() and read_generation() == generation:
            _cache_call("set_many", {keys[part]: value for part, value in computed.items()}, seconds, alias=CACHE_ALIAS)
    return result


def cached_fragments(name: str, parts, render, *, request=None) -> dict:
    """{part: html} for every part, as cached_pieces(); render(missing_parts) returns {part: safe html}.

    A large piece is kept compressed, as the raw DEFLATE stream that the page's compression takes as it is
    (aitracker/compression.py): a fifth of its size in the cache, and inflating it costs less than compressing
    it again for every page that shows it."""
    keep = fragment_seconds() > 0
    rendered = {}  # part: (html, its bytes), of the pieces rendered now

    def compute(missing):
        kept = {}
        for part, html in render(missing).items():
            html = str(html)
            data = html.encode() if keep and len(html) >= MIN_PIECE_BYTES else b""
            if len(data) >= MIN_PIECE_BYTES:
                rendered[part] = html, data
                kept[part] = (deflate_piece(data),)
            else:
                kept[part] = html
        return kept

    request = request if request is not None else _current_request.get()
    shown = {}
    for part, value in cached_pieces(name, parts, compute, request=request).items():
        if isinstance(value, tuple):
            (deflated,) = value
            html, data = rendered.get(part) or (None, inflate_piece(deflated))
            note_piece(request, data, deflated)
            value = data.decode() if html is None else html
        shown[part] = mark_safe(value)
    return shown


def cached_fragment(name: str, part, render, *, request=None) -> str:
    """One piece of HTML: render() when it is not kept under this generation."""
    return cached_fragments(name, [part], lambda missing: {missing[0]: render()}, request=request)[part]
