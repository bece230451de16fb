"""Probes: the identifier shapes that issue 20 found in narratives sent to RaDaR (test helper).

``probe(seed)`` writes one short note, from ``random.Random(seed)`` like :func:`tests.phi_corpus.note`,
with one planted identifier of each kind in :data:`KINDS`, each in one of several realistic variants,
between clinical facts that must survive (ages under 90 in words, decimals, units, "Labor and
Delivery", "on Facebook as well"). The patient has a hyphenated surname and a nickname
(``name.use == "nickname"``); practitioners named only in other resources of the record
(a DocumentReference author, a Condition recorder, the general practitioner) come as
``Note.people`` (FHIR References with a display), which the app passes to the scrubber too.

The kinds: ``name_part`` (one part of the hyphenated surname, dash and case variants, initials
with the surname, possessives), ``nickname``, ``record_name`` (a practitioner or contact that the
record names, without title), ``age_words`` (ages over 89 in words), ``ip_end`` (an IP address
before punctuation), ``license`` (driver's licences), ``mac`` (MAC addresses), ``holiday``
(holiday dates), ``facility_bare`` (facility names without a facility noun), ``gps``
(coordinates), ``email_obfuscated`` and ``social`` (social-media handles).

Names of people and facilities are drawn from halves of each list: even seeds below 1000 (tuning)
use one half, seeds from 1000 (reporting) the other, so that reported recall is on names the
patterns were not tuned on. Score with :func:`tests.phi_corpus.score`.
"""
from __future__ import annotations

import random
import re
from datetime import date, timedelta

from .phi_corpus import LAST, SAINTS, Note, _Writer

KINDS = ("name_part", "nickname", "record_name", "age_words", "ip_end", "license", "mac", "holiday",
         "facility_bare", "gps", "email_obfuscated", "social")
NICKNAMES = [("Bartholomew", "Bart"), ("Elizabeth", "Liz"), ("Robert", "Bobby"), ("William", "Billy"),
             ("Katherine", "Katie"), ("Margaret", "Peggy"), ("Alexander", "Sasha"), ("Jonathan", "Jonny"),
             ("Theodore", "Teddy"), ("Josephine", "Josie"), ("Francesca", "Frankie"), ("Nathaniel", "Nate"),
             ("Christopher", "Topher"), ("Abigail", "Abby"), ("Dolores", "Lola"), ("Guadalupe", "Lupe"),
             ("Anastasia", "Stasia"), ("Benjamin", "Benny"), ("Gwendolyn", "Gwen"), ("Maximilian", "Maxi"),
             ("Rosalind", "Roz"), ("Ignatius", "Iggy"), ("Penelope", "Nell"), ("Zachary", "Zach")]
SURNAMES = [n for n in LAST if len(n) > 3 and "-" not in n and "'" not in n] + [
    "Bouvier", "Gallagher", "Lindqvist", "Achebe", "Moreau", "Castellano", "Oyelaran", "Thorsen", "Abernathy",
    "Villanueva", "Kaczmarek", "Delacroix", "Sørensen", "Whitfield", "Hollister", "Brennan"]
FIRSTS = ["Julius", "Marjorie", "Anand", "Colette", "Desmond", "Ifeoma", "Rafael", "Ingrid", "Tobias", "Hanae",
          "Lorenzo", "Priyanka", "Cormac", "Beatriz", "Emeka", "Solveig", "Declan", "Yasmin", "Mateus", "Oona"]
PLACES = ["Northwestern", "Lurie", "Cincinnati", "Nationwide", "Piedmont", "Baystate", "Sentara", "Inova",
          "Lakeland", "Riverside", "Sarasota", "Dayton", "Akron", "Rady", "Phoenix", "Tampa", "Toledo", "Houston",
          "Wake Forest", "Le Bonheur", "Cedars", "Beaumont", "Carilion", "Geisinger", "Hackensack", "Ochsner"]
SYSTEMS = ["OSF", "SSM", "CHI", "HSHS", "UPMC", "MUSC", "UNC", "OHSU"]
HOLIDAYS = [("Christmas Day", ("Christmas",)), ("Christmas", ("Christmas",)), ("Christmas Eve", ("Christmas",)),
            ("Thanksgiving", ("Thanksgiving",)), ("Thanksgiving Day", ("Thanksgiving",)),
            ("New Year's Day", ("New", "Year")), ("New Year's Eve", ("New", "Year")), ("Easter", ("Easter",)),
            ("Easter Sunday", ("Easter",)), ("the Fourth of July", ("Fourth", "July")),
            ("Independence Day", ("Independence",)), ("Memorial Day", ("Memorial",)), ("Labor Day", ("Labor",)),
            ("Halloween", ("Halloween",)), ("Valentine's Day", ("Valentine",)), ("Mother's Day", ("Mother",)),
            ("Father's Day", ("Father",)), ("MLK Day", ("MLK",)), ("Veterans Day", ("Veterans",)),
            ("Juneteenth", ("Juneteenth",))]
UNITS = ["ones", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
FILLER = ["CK 8,450 U/L", "Hb 9.2 g/dL", "SG 1.015", "INR 1.2", "pH 7.35", "Na 134, K 4.1", "T 38.5° C",
          "hypotonia", "ptosis", "levetiracetam 20 mg/kg/day", "Marfan syndrome", "HP:0001250", "SMN1"]


def words(n: int, r: random.Random) -> str:
    """``n`` (10–119) in words, the way notes spell it ("ninety-four", "one hundred and two")."""
    if n >= 100:
        head = r.choice(["one hundred", "a hundred"])
        rest = n - 100
        return head if not rest else f"{head}{r.choice([' and ', ' '])}{words(rest, r) if rest >= 10 else UNITS[rest]}"
    if n < 20:
        return TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return TENS[tens] + (f"{r.choice(['-', ' '])}{UNITS[unit]}" if unit else "")


def _half(w: _Writer, seq):
    return w.pick(seq[w.seed >= 1000::2] or seq)


class _Probe:
    """The patient, record and slot writers for one probe note."""

    def __init__(self, seed: int):
        self.w = w = _Writer(seed)
        self.today = date(2025, 1, 1) + timedelta(days=w.r.randrange(0, 700))
        self.formal, self.nick = _half(w, NICKNAMES)
        self.first_part, self.second_part = w.r.sample([s for s in SURNAMES[w.seed >= 1000::2]], 2)
        self.family = f"{self.first_part}-{self.second_part}"
        self.doc_first, self.doc_last = _half(w, FIRSTS), _half(w, SURNAMES)
        self.kin_first, self.kin_last = _half(w, FIRSTS), _half(w, SURNAMES)
        while self.kin_first == self.doc_first:
            self.kin_first = w.pick(FIRSTS)
        display = w.pick([f"Dr. {self.doc_first} {self.doc_last}", f"{self.doc_last}, {self.doc_first} MD",
                          f"{self.doc_first} Q. {self.doc_last}, MD, PhD", f"{self.doc_last.upper()}, {self.doc_first.upper()}"])
        self.people = [{"reference": f"Practitioner/{seed}", "display": display}]
        self.patient = {
            "resourceType": "Patient", "id": f"probe-{seed}", "birthDate": "1961-05-02",
            "name": [{"use": "official", "family": self.family, "given": [self.formal], "suffix": ["Jr."]},
                     {"use": "nickname", "given": [self.nick]}],
            "contact": [{"relationship": [{"text": "neighbor"}],
                         "name": {"family": self.kin_last, "given": [self.kin_first]}}],
        }

    def clinical(self):
        return self.w.fact(self.w.pick(FILLER))

    def name_part(self):
        w, a, b = self.w, self.first_part, self.second_part
        form = w.r.randrange(7)
        text, secrets = {0: (a, (a,)), 1: (b, (b,)), 2: (f"{a}–{b}", (a, b)), 3: (f"{a} {b}", (a, b)),
                         4: (f"{a}-{b}'s", (a, b)), 5: (f"{a}-{b}".upper(), (a.upper(), b.upper())),
                         6: (f"{self.formal[0]}. {a}-{b}", (self.formal[0], a, b))}[form]
        lead = w.pick(["Per chart review, ", "Seen today: ", "Discussed the plan with ", "Labs for "])
        return w.t(lead).phi("name_part", text, secrets).t(" ").fact(w.pick(["has hypotonia", "reports fatigue"])).t(". ")

    def nickname(self):
        w, n = self.w, self.nick
        form = w.r.randrange(5)
        text = {0: n, 1: f"{n}'s", 2: n.upper(), 3: n.lower(), 4: n}[form]
        if form == 4:
            return w.t("Prefers to be addressed as “").phi("nickname", text, (n,)).t("”. ")
        return w.t(w.pick(["Today ", "Per mother, ", "Overall "])).phi("nickname", text, (n, n.upper(), n.lower())).t(
            w.pick([" is eating well. ", " mother called. ", " has had no seizures. "]))

    def record_name(self):
        w = self.w
        first, last = (self.doc_first, self.doc_last) if w.chance(0.6) else (self.kin_first, self.kin_last)
        form = w.r.randrange(6)
        text = {0: last, 1: first, 2: last.upper(), 3: f"{last}'s", 4: f"{first[0]}. {last}", 5: f"{first} {last}"}[form]
        secrets = tuple({first, last, last.upper(), first[0]} if form == 4 else {first, last, last.upper()})
        lead = w.pick(["Case reviewed with ", "Per ", "Plan agreed by ", "Message left for "])
        return w.t(lead).phi("record_name", text, secrets).t(w.pick([" this week. ", "; no changes. ", " today. "]))

    def age_words(self):
        w, r = self.w, self.w.r
        n = r.randrange(91, 110)
        spelled = words(n, r)
        form = r.randrange(8)
        secrets = tuple(re.findall(r"[a-z]+", spelled.lower().replace("a hundred", "hundred").replace(" and ", " ")))
        secrets += tuple(x.capitalize() for x in secrets)
        if form == 0:
            spelled = spelled.replace("a hundred", "one hundred").replace(" ", "-")
            w.t("A ").phi("age_words", f"{spelled}-year-old", secrets).t(" man")
        elif form == 1:
            w.t("Grandmother is ").phi("age_words", spelled, secrets).t(" years old")
        elif form == 2:
            w.t("Grandfather, aged ").phi("age_words", spelled, secrets).t(", lives nearby")
        elif form == 3:
            w.t("Great-grandmother died at ").phi("age_words", spelled, secrets)
        elif form == 4:
            w.t("His grandmother is in her ").phi("age_words", "late nineties", ("nineties", "late"))
        elif form == 5:
            w.t("Grandfather, a ").phi("age_words", "nonagenarian").t(", is well")
        elif form == 6:
            w.phi("age_words", spelled.capitalize(), secrets).t("-year-old great-aunt with dementia")
        else:
            w.t("Age: ").phi("age_words", spelled, secrets)
        w.t("; ").fact(f"mother is {words(r.randrange(20, 60), r)} years old").t(", ").fact(
            r.choice(["a nineteen-year-old sister", "infusion over ninety minutes", "ninety percent of doses"]))
        return w.t(". ")

    def ip_end(self):
        w = self.w
        ip = ".".join(str(w.r.randrange(1, 255)) for _ in range(4))
        form = w.r.randrange(5)
        if form == 0:
            return w.t("Portal login from ").phi("ip_end", ip).t(". ")
        if form == 1:
            return w.t("Remote session (").phi("ip_end", ip).t("). ")
        if form == 2:
            return w.t("Pump uploads to ").phi("ip_end", ip).t(f":{w.r.randrange(1024, 9999)}. ")
        if form == 3:
            return w.t("Last seen at ").phi("ip_end", ip).t(", then offline. ")
        return w.t("Video visit from ").phi("ip_end", f"2001:db8:{w.r.randrange(4096):x}::{w.r.randrange(4096):x}").t(". ")

    def license(self):
        w = self.w
        L = "ABCDEFGHJKLMNPRSTUVWXYZ"
        d = w.digits
        value = w.pick([f"{w.pick(L)}{d(3)}-{d(4)}-{d(4)}", f"{w.pick(L)}{d(7)}", f"{w.pick(L)}{d(3)} {d(3)} {d(3)} {d(3)}",
                        f"{d(4)}-{d(4)}-{d(2)}", f"{w.pick(L)}{d(3)}-{d(3)}-{d(3)}", f"{d(9)}"])
        cue = w.pick(["Driver's license ", "driver’s licence no. ", "Driver lic. #", "DLN ", "drivers lic ",
                      "Photo ID (driver's license) number ", "Driving licence: ", "Driver License #: ",
                      "His driver's license, which reads ", "CDL "])
        return w.t("ID checked: ", cue).phi("license", value).t(". ")

    def mac(self):
        w = self.w
        octets = [f"{w.r.randrange(256):02x}" for _ in range(6)]
        form = w.r.randrange(4)
        value = {0: ":".join(octets).upper(), 1: "-".join(octets), 2: ":".join(octets),
                 3: ".".join("".join(octets[i:i + 2]) for i in (0, 2, 4))}[form]
        cue = w.pick(["MAC ", "MAC address: ", "hardware address ", "Wi-Fi MAC ", "Bluetooth address ", "from device "])
        return w.t("Insulin pump paired (", cue).phi("mac", value).t("). ")

    def holiday(self):
        w = self.w
        name, secrets = w.pick(HOLIDAYS)
        year = self.today.year - w.r.randrange(0, 4)
        form = w.r.randrange(5)
        if form == 0:
            return w.t("Seizure cluster on ").phi("holiday", f"{name} {year}", secrets).t(". ")
        if form == 1:
            return w.t("Admitted ").phi("holiday", f"{name}, {year}", secrets).t(". ")
        if form == 2:
            return w.t("Fell over ").phi("holiday", f"{name} weekend {year}", secrets).t(". ")
        if form == 3:
            return w.t("Symptoms began around ").phi("holiday", name, secrets).t(". ")
        return w.t("Seen the day after ").phi("holiday", f"{name} {year}", secrets).t(". ")

    def facility_bare(self):
        w = self.w
        place = _half(w, PLACES)
        saint = _half(w, SAINTS)
        name = w.pick([f"{place} Memorial", f"{place} Children's", f"{w.pick(SYSTEMS)} Saint {saint}",
                       f"{place} General", f"{place} Methodist", f"{place} Baptist", f"{place} Presbyterian",
                       f"St. {saint}'s", f"{place}-Sinai", f"{place} Regional"])
        form = w.r.randrange(7)
        lead, tail = [("Seen at ", " for "), ("Transferred to ", " for "), ("Born at ", " after "),
                      ("Records from ", " reviewed for "), ("Followed at ", " for "), ("Presented to ", " ED with "),
                      ("Had a 3-week ", " NICU stay for ")][form]
        fact = w.pick(["hypotonia", "seizures", "poor feeding", "hypoglycemia"])
        w.t(lead).phi("facility_bare", name).t(tail).fact(fact).t("; ")
        return w.fact(w.pick(["then admitted to the PICU", "transferred to Labor and Delivery", "referred to Neurology",
                              "seen in Genetics Clinic", "presented to the ED"])).t(". ")

    def gps(self):
        w = self.w
        lat, lon = w.r.uniform(25, 48), -w.r.uniform(70, 122)
        places = w.r.choice([4, 5, 6])
        form = w.r.randrange(5)
        value = {0: f"{lat:.{places}f}, {lon:.{places}f}", 1: f"{lat:.4f}° N, {-lon:.4f}° W",
                 2: f"{int(lat)}°{int(lat % 1 * 60)}'{int(lat * 3600 % 60)}\"N {int(-lon)}°{int(-lon % 1 * 60)}'{int(-lon * 3600 % 60)}\"W",
                 3: f"{lat:.2f}, {lon:.2f}", 4: f"lat {lat:.4f} long {lon:.4f}"}[form]
        cue = "GPS: " if form == 3 else w.pick(["found at ", "GPS ", "location shared: ", "coordinates "])
        w.t("EMS report: ", cue).phi("gps", value, tuple(t for t in re.findall(r"\d+", value))).t("; ")
        return w.fact(w.pick(["SG 1.015", "INR 1.2", "glucose 54 mg/dL", "T 38.5° C"])).t(". ")

    def email_obfuscated(self):
        w = self.w
        user = re.sub(r"[^a-z]", "", self.nick.lower()) + w.pick(["", str(w.r.randrange(10, 99)), "_s"])
        host = w.pick(["fastmail", "gmail", "yahoo", "protonmail", "outlook", "icloud"])
        tld = w.pick(["com", "net", "org"])
        value = w.pick([f"{user} at {host} dot {tld}", f"{user} [at] {host} [dot] {tld}", f"{user}(at){host}.{tld}",
                        f"{user} AT {host} DOT {tld}", f"{user} @ {host} . {tld}", f"{user} at {host}.{tld}"])
        cue = w.pick(["Email: ", "Mother asks to be e-mailed at ", "Write to ", "Contact "])
        return w.t(cue).phi("email_obfuscated", value, (user, host)).t(". ")

    def social(self):
        w = self.w
        handle = re.sub(r"[^a-z]", "", self.nick.lower()) + w.pick(["99", "_s", ".official", "_2010", "man"])
        form = w.r.randrange(7)
        text, lead = {0: (f"@{handle}", "Posts videos as "), 1: (f"@{handle}", "Instagram "),
                      2: (handle, "TikTok: "), 3: (f"@{handle}", "Twitter handle "), 4: (handle, "on Snapchat as "),
                      5: (f"u/{handle}", "Reddit "), 6: (f"{handle}#{w.digits(4)}", "Discord ")}[form]
        w.t("Parent worried about social media (", lead).phi("social", text, tuple(re.findall(r"[A-Za-z0-9_]+", text)))
        return w.t("); ").fact(w.pick(["on Facebook as well", "uses Instagram daily", "glucose 54 @ 3 am"])).t(". ")


def probe(seed: int) -> Note:
    """The probe note for ``seed`` (deterministic): one identifier of each kind, in shuffled order."""
    p = _Probe(seed)
    w = p.w
    w.t("HPI: ")
    for kind in w.r.sample(KINDS, len(KINDS)):
        getattr(p, kind)()
        if w.chance(0.5):
            w.t("Also ").fact(w.pick(FILLER)).t(". ")
    return Note(seed=seed, text=w.text(), patient=p.patient, today=p.today, plants=w.plants, facts=w.facts,
                people=p.people)


def probes(seeds) -> list[Note]:
    """The probe notes for ``seeds``."""
    return [probe(s) for s in seeds]
