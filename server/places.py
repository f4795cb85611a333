"""US states (with DC and Puerto Rico) and their names in both languages."""

from __future__ import annotations

import unicodedata

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
    name = Locale.parse(lang).languages.get(code)
    return name or code
