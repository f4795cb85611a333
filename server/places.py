"""US states (with DC and Puerto Rico) and their names in both languages."""

from __future__ import annotations

import json
import math
import unicodedata
from functools import lru_cache
from pathlib import Path

from babel import Locale

# USPS code: (English name, Spanish name)
STATES: dict[str, tuple[str, str]] = {
    "AL": ("Alabama", "Alabama"), "AK": ("Alaska", "Alaska"), "AZ": ("Arizona", "Arizona"),
    "AR": ("Arkansas", "Arkansas"), "CA": ("California", "California"),
    "CO": ("Colorado", "Colorado"), "CT": ("Connecticut", "Connecticut"),
    "DE": ("Delaware", "Delaware"), "DC": ("District of Columbia", "Distrito de Columbia"),
    "FL": ("Florida", "Florida"), "GA": ("Georgia", "Georgia"), "HI": ("Hawaii", "Hawái"),
    "ID": ("Idaho", "Idaho"), "IL": ("Illinois", "Illinois"), "IN": ("Indiana", "Indiana"),
    "IA": ("Iowa", "Iowa"), "KS": ("Kansas", "Kansas"), "KY": ("Kentucky", "Kentucky"),
    "LA": ("Louisiana", "Luisiana"), "ME": ("Maine", "Maine"), "MD": ("Maryland", "Maryland"),
    "MA": ("Massachusetts", "Massachusetts"), "MI": ("Michigan", "Míchigan"),
    "MN": ("Minnesota", "Minnesota"), "MS": ("Mississippi", "Misisipi"),
    "MO": ("Missouri", "Misuri"), "MT": ("Montana", "Montana"), "NE": ("Nebraska", "Nebraska"),
    "NV": ("Nevada", "Nevada"), "NH": ("New Hampshire", "Nuevo Hampshire"),
    "NJ": ("New Jersey", "Nueva Jersey"), "NM": ("New Mexico", "Nuevo México"),
    "NY": ("New York", "Nueva York"), "NC": ("North Carolina", "Carolina del Norte"),
    "ND": ("North Dakota", "Dakota del Norte"), "OH": ("Ohio", "Ohio"),
    "OK": ("Oklahoma", "Oklahoma"), "OR": ("Oregon", "Oregón"),
    "PA": ("Pennsylvania", "Pensilvania"), "PR": ("Puerto Rico", "Puerto Rico"),
    "RI": ("Rhode Island", "Rhode Island"), "SC": ("South Carolina", "Carolina del Sur"),
    "SD": ("South Dakota", "Dakota del Sur"), "TN": ("Tennessee", "Tennessee"),
    "TX": ("Texas", "Texas"), "UT": ("Utah", "Utah"), "VT": ("Vermont", "Vermont"),
    "VA": ("Virginia", "Virginia"), "WA": ("Washington", "Washington"),
    "WV": ("West Virginia", "Virginia Occidental"), "WI": ("Wisconsin", "Wisconsin"),
    "WY": ("Wyoming", "Wyoming"),
}


def state_name(code: str, lang: str = "en") -> str:
    names = STATES.get(code)
    if names is None:
        return code
    return names[1] if lang == "es" else names[0]


def states_sorted(lang: str) -> list[tuple[str, str]]:
    """(code, name) pairs ordered by the name in the given language."""
    return sorted(((c, state_name(c, lang)) for c in STATES), key=lambda p: _collation_key(p[1]))


def _collation_key(name: str) -> str:
    """Accents sort with their base letter: Míchigan between Michigan's neighbours."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.casefold())
                   if not unicodedata.combining(c))


def language_name(code: str, lang: str = "en") -> str:
    """'Spanish' or 'español' for 'es', named by Babel in the page's language."""
    name = Locale.parse(lang, sep="-").languages.get(code)
    return name or code


_OUTLINES = Path(__file__).with_name("us_states.json")
# The outlines come projected by d3's geoAlbersUsa at scale 1300, translate (487.5, 305),
# then halved; dots go through the same projection so they land inside their states.
_SCALE = 1300 / 2
_ORIGIN = (487.5 / 2, 305 / 2)


@lru_cache(maxsize=1)
def state_outlines() -> dict:
    """State outlines as SVG path data, one entry per USPS code, and their viewBox."""
    return json.loads(_OUTLINES.read_text())


def _conic_equal_area(parallels: tuple[float, float]):
    sy0 = math.sin(math.radians(parallels[0]))
    n = (sy0 + math.sin(math.radians(parallels[1]))) / 2
    c = 1 + sy0 * (2 * n - sy0)
    r0 = math.sqrt(c) / n

    def project(lon: float, lat: float) -> tuple[float, float]:
        r = math.sqrt(max(c - 2 * n * math.sin(math.radians(lat)), 0)) / n
        x = math.radians(lon) * n
        return r * math.sin(x), r0 - r * math.cos(x)

    return project


# (rotation, centre, parallels, scale factor, offset factors) as geoAlbersUsa sets them.
_PARTS = {
    "lower48": (96, (-0.6, 38.7), (29.5, 45.5), 1.0, (0.0, 0.0)),
    "AK": (154, (-2, 58.5), (55, 65), 0.35, (-0.307, 0.201)),
    "HI": (157, (-3, 19.9), (8, 18), 1.0, (-0.205, 0.212)),
}


@lru_cache(maxsize=8192)  # the home page places every listing on each render
def map_point(lat: float, lon: float, state: str) -> tuple[float, float]:
    """Where a place falls on the state outlines' drawing (Albers USA)."""
    rotate, centre, parallels, factor, offset = _PARTS.get(state, _PARTS["lower48"])
    project = _conic_equal_area(parallels)
    k = _SCALE * factor
    px, py = project(lon + rotate, lat)
    cx, cy = project(centre[0], centre[1])
    tx = _ORIGIN[0] + offset[0] * _SCALE
    ty = _ORIGIN[1] + offset[1] * _SCALE
    return round(tx + k * (px - cx), 1), round(ty - k * (py - cy), 1)
