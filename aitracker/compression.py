"""Gzip for pages made of kept fragments, without compressing the fragments again on every page.

Compressing a page costs about as much as building it from its kept fragments: a commitment's page is about
160 KB of HTML, most of it its timeline and its parties (aitracker/fragments.py), and gzip at Django's level
takes ~8 ms of the ~25 ms the page costs. A large fragment is therefore kept with its own compressed form: a raw
DEFLATE stream begun afresh (it refers to nothing before it) and ended by a sync flush (it ends on a byte and
holds no final block). Such a stream can stand anywhere in a longer one (RFC 1951, 3.2.3: blocks are read one
after another, the decoder does not care which compressor made them). A page is then one gzip member (RFC
1952) made of: its own parts between the fragments, each compressed afresh and sync-flushed the same way, the
kept streams of its fragments in between, a final block, the CRC-32 and the length of the whole page. Any
gzip reader decodes it to the page, byte for byte; only back-references across a boundary are lost (a page
compresses ~1% less well).

The header is Django's (django.utils.text.compress_string): level 6 and a random-length file name that pads
the answer by up to GZipMiddleware.max_random_bytes, as a mitigation for BREACH.
"""

import secrets
import struct
import zlib

from django.middleware.gzip import GZipMiddleware

LEVEL = 6
# A fragment smaller than this is compressed with the page: splicing it would cost more than it saves.
MIN_PIECE_BYTES = 4096
MAX_RANDOM_BYTES = GZipMiddleware.max_random_bytes
REQUEST_ATTRIBUTE = "aitracker_compressed_pieces"

_FNAME = 0x08
_OS_UNKNOWN = 255


def _deflated(data: bytes, mode: int) -> bytes:
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(mode)


def deflate_piece(data: bytes) -> bytes:
    """The compressed form kept beside a fragment: a raw DEFLATE stream of data alone, ended by a sync flush."""
    return _deflated(data, zlib.Z_SYNC_FLUSH)


def inflate_piece(deflated: bytes) -> bytes:
    """The bytes a kept stream stands for."""
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(deflated)


def note_piece(request, data: bytes, deflated: bytes) -> None:
    """Tell this request's compression that `data` (a fragment in the page) is kept compressed as `deflated`."""
    if request is not None:
        pieces = getattr(request, REQUEST_ATTRIBUTE, None)
        if pieces is None:
            pieces = {}
            setattr(request, REQUEST_ATTRIBUTE, pieces)
        pieces[data] = deflated


def pieces_of(request) -> dict:
    return getattr(request, REQUEST_ATTRIBUTE, None) or {} if request is not None else {}


def _header() -> bytes:
    filename = b"a" * secrets.randbelow(MAX_RANDOM_BYTES) + b"\x00"
    return struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, _FNAME, 0, 0, _OS_UNKNOWN) + filename


def gzip_page(content: bytes, pieces: dict | None = None) -> bytes:
    """content as one gzip member, taking the kept stream of each piece (data -> deflated) found in it rather
    than compressing its bytes again. A piece not found in the page, or overlapping one before it, is left to
    be compressed with the page."""
    spans = []
    for data, deflated in (pieces or {}).items():
        start = content.find(data) if data else -1
        if start >= 0:
            spans.append((start, start + len(data), deflated))
    spans.sort(key=lambda span: span[0])
    out, position = [_header()], 0
    for start, end, deflated in spans:
        if start < position:
            continue
        if start > position:
            out.append(_deflated(content[position:start], zlib.Z_SYNC_FLUSH))
        out.append(deflated)
        position = end
    out.append(_deflated(content[position:], zlib.Z_FINISH))
    out.append(struct.pack("<II", zlib.crc32(content), len(content) & 0xFFFFFFFF))
    return b"".join(out)
