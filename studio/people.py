"""Who a character is, from the family's relation word and their own description.

``assets/people.json`` maps relation words (할머니, 외할아버지, grandpa, aunt …) to sex, age group and
an English noun, and gives default looks per group in plain visual words. The family's own words
win: hair, glasses or clothes they describe replace the defaults, and a description that says
"he"/"she" decides the sex. A default never crosses sexes: a grandfather gets no bun or blouse.
The illustrator reads the same table, so the picture agrees with the sheet.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PEOPLE_JSON = Path(__file__).resolve().parent.parent / "assets" / "people.json"


@lru_cache(maxsize=1)
def table() -> dict:
    return json.loads(PEOPLE_JSON.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Person:
    sex: str          # "female", "male" or "" (unknown)
    age: str          # "elder", "adult", "young", "child", "pet"
    noun: str         # grandmother, uncle, dog …
    korean: bool = False
    look: str = ""    # "dog"/"cat" for pets

    @property
    def group(self) -> str:
        if self.look:
            return self.look
        return f"{self.sex}_{self.age}" if self.sex else "_adult"


def person_for(relation: str, description: str = "") -> Person:
    """The relation word decides (longest match first); the description's he/she decides the sex
    when it says so."""
    rel = (relation or "").strip().lower()
    relations = table()["relations"]
    key = next((k for k in sorted(relations, key=len, reverse=True) if k in rel), None)
    entry = relations.get(key, {"sex": "", "age": "adult", "noun": "grown-up"})
    person = Person(entry["sex"], entry["age"], entry["noun"], bool(entry.get("korean")), entry.get("look", ""))
    said = sex_in(description)
    if said and said != person.sex and person.age != "pet":
        person = Person(said, person.age, person.noun if not person.sex else "grown-up", person.korean)
    return person


def sex_in(description: str) -> str:
    """'female'/'male' when the family's words say so (she/her/여자 …), else ''."""
    low = (description or "").lower()
    found = {sex for sex, words in table()["sex_words"].items()
             if any(_has_word(low, w) for w in words)}
    return found.pop() if len(found) == 1 else ""


def _has_word(text: str, word: str) -> bool:
    if not word.isascii():
        return word in text
    return re.search(rf"\b{re.escape(word)}\b", text) is not None


def pronouns(sex: str) -> dict[str, str]:
    """English pronoun slots for a character: She/she/her/hers/herself …"""
    forms = {"female": ("she", "her", "her"), "male": ("he", "him", "his")}.get(sex, ("they", "them", "their"))
    subj, obj, poss = forms
    return {"she": subj, "She": subj.capitalize(), "her_obj": obj, "her": poss, "Her": poss.capitalize(),
            "was": "were" if subj == "they" else "was"}


def visual_details(traits: list[str]) -> dict[str, list[str]]:
    """Hair, extras (glasses, beard …) and clothes the family described, as English words."""
    words = table()["visual_words"]
    found: dict[str, list[str]] = {"hair": [], "extras": [], "clothes": []}
    for trait in traits:
        text = trait.strip()
        if not text:
            continue
        if text.isascii():
            low = text.lower()
            if any(_has_word(low, w) for w in words["english"]):
                phrase = re.sub(r"^(always |often |usually )?(wore|wears|wearing|had|has|with)\s+", "", low)
                kind = "hair" if re.search(r"\b(hair|bun|curls|bald)\b", low) else \
                    "extras" if re.search(r"\b(glasses|spectacles|beard|moustache|mustache|pipe|cane|stick)\b", low) \
                    else "clothes"
                found[kind].append(phrase)
            continue
        for kind in ("hair", "extras"):
            for key in sorted(words[kind], key=len, reverse=True):
                if key in text:
                    value = words[kind][key]
                    if value not in found[kind]:
                        found[kind].append(value)
                    text = text.replace(key, " ")
        colour = next((v for k, v in words["colours"].items() if k in text), "")
        for key in sorted(words["clothes"], key=len, reverse=True):
            if key in text:
                item = f"{colour} {words['clothes'][key]}".strip()
                found["clothes"].append(("an " if item[0] in "aeiou" else "a ") + item)
                text = text.replace(key, " ")
                colour = ""
    return found


def describe(relation: str, traits: list[str], seed: str = "") -> tuple[Person, str]:
    """A plain visual description for the character sheet (and every picture prompt)."""
    family_words = " ".join(traits)
    person = person_for(relation, family_words)
    rng = random.Random(f"{seed}:{relation}:{family_words}")
    looks = table()["looks"].get(person.group, table()["looks"]["_adult"])
    if "look" in looks:
        return person, rng.choice(looks["look"])
    own = visual_details(traits)
    age_word = table()["ages"].get(person.age, "")
    who = " ".join(w for w in (age_word, "Korean" if person.korean else "", person.noun) if w)
    article = "an" if who[0] in "aeiou" else "a"
    parts = [f"{article} {who} {table()['age_years'].get(person.age, '')}".strip()]
    parts.append(", ".join(own["hair"]) if own["hair"] else rng.choice(looks["hair"]))
    extras = own["extras"] or [e for e in [rng.choice(looks["extras"])] if e]
    parts += extras
    clothes = " and ".join(own["clothes"]) if own["clothes"] else rng.choice(looks["clothes"])
    parts.append(f"wearing {clothes}")
    return person, ", ".join(p for p in parts if p) + ", warm smile"


def child_description(seed: str = "") -> str:
    rng = random.Random(f"{seed}:child")
    child = table()["child"]
    return f"a small child of about six with {rng.choice(child['hair'])}, wearing {rng.choice(child['clothes'])}"


def crossed_words(description: str, sex: str) -> list[str]:
    """Words of the other sex's hair or clothes in a description (a grandfather with a bun)."""
    key = {"male": "feminine_words", "female": "masculine_words"}.get(sex)
    if not key:
        return []
    low = (description or "").lower()
    return [w for w in table()[key] if _has_word(low, w)]
