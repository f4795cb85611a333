"""A national day of action as data: N active listings across every state, as a Vigil export.

    python -m benchmarks.national 800 > day.json
    export VIGIL_DB=var/day.db
    python -m server init && python -m server import day.json

On June 30, 2018, "Families Belong Together" held 787 events in one day across all 50
states. The generated day looks like that: events spread over the states by population,
each in a real city (with its coordinates, nudged apart so no two share a point), with a
street address, a start and end time in the state's own time zone, and a description in
both languages. The same N and seed always give the same data.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.listing_form import zone_for

# (state, population in millions, [(city, lat, lon), ...]): the largest cities, roughly.
STATES: list[tuple[str, float, list[tuple[str, float, float]]]] = [
    ("AL", 5.1, [("Birmingham", 33.52, -86.80), ("Montgomery", 32.37, -86.30)]),
    ("AK", 0.7, [("Anchorage", 61.22, -149.90)]),
    ("AZ", 7.4, [("Phoenix", 33.45, -112.07), ("Tucson", 32.22, -110.97),
                 ("Florence", 33.03, -111.39)]),
    ("AR", 3.1, [("Little Rock", 34.75, -92.29)]),
    ("CA", 39.0, [("Los Angeles", 34.05, -118.24), ("San Francisco", 37.77, -122.42),
                  ("San Diego", 32.72, -117.16), ("Sacramento", 38.58, -121.49),
                  ("Fresno", 36.74, -119.79), ("Oakland", 37.80, -122.27),
                  ("Adelanto", 34.58, -117.41), ("San Jose", 37.34, -121.89)]),
    ("CO", 5.9, [("Denver", 39.74, -104.99), ("Aurora", 39.73, -104.83)]),
    ("CT", 3.6, [("Hartford", 41.76, -72.68), ("New Haven", 41.31, -72.92)]),
    ("DE", 1.0, [("Wilmington", 39.74, -75.55)]),
    ("DC", 0.7, [("Washington", 38.90, -77.04)]),
    ("FL", 22.6, [("Miami", 25.76, -80.19), ("Orlando", 28.54, -81.38),
                  ("Tampa", 27.95, -82.46), ("Jacksonville", 30.33, -81.66)]),
    ("GA", 11.0, [("Atlanta", 33.75, -84.39), ("Savannah", 32.08, -81.09),
                  ("Lumpkin", 32.05, -84.80)]),
    ("HI", 1.4, [("Honolulu", 21.31, -157.86)]),
    ("ID", 1.9, [("Boise", 43.62, -116.20)]),
    ("IL", 12.5, [("Chicago", 41.88, -87.63), ("Springfield", 39.78, -89.65)]),
    ("IN", 6.8, [("Indianapolis", 39.77, -86.16)]),
    ("IA", 3.2, [("Des Moines", 41.59, -93.62)]),
    ("KS", 2.9, [("Wichita", 37.69, -97.34), ("Kansas City", 39.11, -94.63)]),
    ("KY", 4.5, [("Louisville", 38.25, -85.76)]),
    ("LA", 4.6, [("New Orleans", 29.95, -90.07), ("Jena", 31.68, -92.13)]),
    ("ME", 1.4, [("Portland", 43.66, -70.26)]),
    ("MD", 6.2, [("Baltimore", 39.29, -76.61)]),
    ("MA", 7.0, [("Boston", 42.36, -71.06), ("Worcester", 42.26, -71.80)]),
    ("MI", 10.0, [("Detroit", 42.33, -83.05), ("Grand Rapids", 42.96, -85.67)]),
    ("MN", 5.7, [("Minneapolis", 44.98, -93.27), ("Saint Paul", 44.95, -93.09)]),
    ("MS", 2.9, [("Jackson", 32.30, -90.18)]),
    ("MO", 6.2, [("St. Louis", 38.63, -90.20), ("Kansas City", 39.10, -94.58)]),
    ("MT", 1.1, [("Missoula", 46.87, -113.99)]),
    ("NE", 2.0, [("Omaha", 41.26, -95.93)]),
    ("NV", 3.2, [("Las Vegas", 36.17, -115.14), ("Reno", 39.53, -119.81)]),
    ("NH", 1.4, [("Manchester", 42.99, -71.46)]),
    ("NJ", 9.3, [("Newark", 40.74, -74.17), ("Elizabeth", 40.66, -74.21)]),
    ("NM", 2.1, [("Albuquerque", 35.08, -106.65), ("Santa Fe", 35.69, -105.94)]),
    ("NY", 19.6, [("New York", 40.71, -74.01), ("Buffalo", 42.89, -78.88),
                  ("Albany", 42.65, -73.76), ("Rochester", 43.16, -77.61)]),
    ("NC", 10.8, [("Charlotte", 35.23, -80.84), ("Raleigh", 35.78, -78.64)]),
    ("ND", 0.8, [("Fargo", 46.88, -96.79)]),
    ("OH", 11.8, [("Columbus", 39.96, -83.00), ("Cleveland", 41.50, -81.69),
                  ("Cincinnati", 39.10, -84.51)]),
    ("OK", 4.0, [("Oklahoma City", 35.47, -97.52), ("Tulsa", 36.15, -95.99)]),
    ("OR", 4.2, [("Portland", 45.52, -122.68), ("Eugene", 44.05, -123.09),
                 ("Salem", 44.94, -123.04)]),
    ("PA", 13.0, [("Philadelphia", 39.95, -75.17), ("Pittsburgh", 40.44, -80.00)]),
    ("PR", 3.2, [("San Juan", 18.47, -66.11)]),
    ("RI", 1.1, [("Providence", 41.82, -71.41)]),
    ("SC", 5.4, [("Columbia", 34.00, -81.03), ("Charleston", 32.78, -79.93)]),
    ("SD", 0.9, [("Sioux Falls", 43.54, -96.73)]),
    ("TN", 7.1, [("Nashville", 36.16, -86.78), ("Memphis", 35.15, -90.05)]),
    ("TX", 30.5, [("Houston", 29.76, -95.37), ("Dallas", 32.78, -96.80),
                  ("San Antonio", 29.42, -98.49), ("Austin", 30.27, -97.74),
                  ("El Paso", 31.76, -106.49), ("McAllen", 26.20, -98.23)]),
    ("UT", 3.4, [("Salt Lake City", 40.76, -111.89)]),
    ("VT", 0.6, [("Burlington", 44.48, -73.21)]),
    ("VA", 8.7, [("Richmond", 37.54, -77.44), ("Norfolk", 36.85, -76.29)]),
    ("WA", 7.8, [("Seattle", 47.61, -122.33), ("Tacoma", 47.25, -122.44),
                 ("Spokane", 47.66, -117.43)]),
    ("WV", 1.8, [("Charleston", 38.35, -81.63)]),
    ("WI", 5.9, [("Milwaukee", 43.04, -87.91), ("Madison", 43.07, -89.40)]),
    ("WY", 0.6, [("Cheyenne", 41.14, -104.82)]),
]
STREETS = ("Main St", "Federal Plaza", "Court St", "Broadway", "Market St", "Park Ave",
           "Washington Ave", "1st Ave", "Liberty St", "Union Sq")
KINDS = ("vigil", "rally", "vigil", "action")
TITLES = {"vigil": ("Families Belong Together vigil", "Vigilia Las familias deben estar juntas"),
          "rally": ("Families Belong Together rally", "Concentración Las familias deben estar "
                    "juntas"),
          "action": ("Families Belong Together march", "Marcha Las familias deben estar juntas")}


def states_for(n: int, rng: random.Random) -> list[str]:
    """n states, every state at least once when n allows, the rest by population."""
    codes = [code for code, _, _ in STATES]
    weights = [pop for _, pop, _ in STATES]
    picked = list(codes) if n >= len(codes) else []
    picked += rng.choices(codes, weights=weights, k=n - len(picked))
    rng.shuffle(picked)
    return picked


def listings(n: int, day: str | None = None, seed: int = 630) -> list[dict]:
    """n listings on `day` (two weeks from today unless given, so they are still to come)."""
    day = day or (date.today() + timedelta(days=14)).isoformat()
    rng = random.Random(seed)
    cities = {code: places for code, _, places in STATES}
    now = f"{day}T00:00:00+00:00"
    out = []
    seen: dict[str, int] = {}
    for i, state in enumerate(states_for(n, rng)):
        city, lat, lon = rng.choice(cities[state])
        kind = rng.choice(KINDS)
        count = seen[f"{state}-{city}"] = seen.get(f"{state}-{city}", 0) + 1
        title_en, title_es = TITLES[kind]
        suffix = f" #{count}" if count > 1 else ""
        tz = ZoneInfo(zone_for(state, city))
        start = datetime.fromisoformat(day).replace(hour=rng.choice((9, 10, 11, 12, 17, 18)),
                                                    tzinfo=tz)
        end = start + timedelta(hours=rng.choice((1, 2, 3)))
        address = f"{rng.randint(1, 2999)} {rng.choice(STREETS)}"
        out.append({
            "slug": f"fbt-{state.lower()}-{i:04d}",
            "title": f"{title_en}, {city}{suffix}",
            "title_es": f"{title_es}, {city}{suffix}",
            "kind": kind,
            "status": "active",
            "address": address,
            "city": city,
            "state": state,
            # About 1 km of spread, so events in one city do not share a point.
            "lat": round(lat + rng.uniform(-0.01, 0.01), 5),
            "lon": round(lon + rng.uniform(-0.01, 0.01), 5),
            "starts": start.isoformat(),
            "ends": end.isoformat(),
            "schedule": None,
            "description_en": (f"Families Belong Together in {city}: bring water, a sign and a "
                               "friend. Legal observers will be present. Meet at the front "
                               "entrance; the event is peaceful and open to everyone."),
            "description_es": (f"Las familias deben estar juntas en {city}: traiga agua, un "
                               "cartel y a alguien de confianza. Habrá observadores legales. "
                               "Nos reunimos en la entrada principal; el acto es pacífico y "
                               "abierto a todos."),
            "needs": "[]",
            "links": "[]",
            "source": "Generated for the national day of action benchmark",
            "added": day,
            "verified": "",
            "created": now,
            "updated": now,
        })
    return out


def export(n: int, **kwargs) -> dict:
    """A Vigil export holding only the generated listings (load it over the default data)."""
    return {"vigil_export": 1, "exported": datetime.now(ZoneInfo("UTC")).isoformat(),
            "listings": listings(n, **kwargs)}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m benchmarks.national N > export.json", file=sys.stderr)
        return 2
    json.dump(export(int(argv[0])), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
