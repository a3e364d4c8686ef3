"""Names and postal addresses, found by their context rather than by a language model.

No NER model can be downloaded here, so names are found where the text says
it is a name: an honorific ("Dr. Jane Doe", "Frau Müller", "Mme Dupont"), a
self-introduction ("my name is", "ich heiße", "je m'appelle", "me llamo"), or a
labelled field ("Name:", "Contact:", "Ansprechpartner:"). Street addresses in
English, German, French and Spanish forms are found by their street words and
house numbers. A name mentioned without such context is missed.
"""

from __future__ import annotations

import re
from typing import Iterator

from services.guardrail.findings import Finding

_NAME_WORD = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿß'’-]+"
_NAME = rf"{_NAME_WORD}(?:[ ](?:(?:van|von|de|del|della|di|du|le|la|da|dos)[ ])?{_NAME_WORD}){{0,2}}"
_PERSON = re.compile(
    rf"""
    (?<![\w])(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Herr|Frau|Hr|Fr|M|Mme|Mlle|Me|Sr|Sra|Srta|Dña|Don|Doña)\.?[ ]+(?P<honorific>{_NAME})
  | \b(?i:my\s+name\s+is|I\s+am\s+called|ich\s+hei(?:ß|ss)e|mein\s+Name\s+ist|je\s+m'appelle|mon\s+nom\s+est|me\s+llamo|mi\s+nombre\s+es)\s+(?P<intro>{_NAME})
  | (?:^|[\n;|])[ \t]*(?:Name|Full\s+name|Contact|Contact\s+person|Employee|Patient|Customer|Ansprechpartner(?:in)?|Kontakt|Nom|Nom\s+complet|Nombre|Contacto)[ \t]*:[ \t]*(?P<field>{_NAME})
    """,
    re.VERBOSE | re.MULTILINE,
)

_STREET_EN = r"(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Boulevard|Blvd\.?|Lane|Ln\.?|Drive|Dr\.?|Court|Ct\.?|Way|Place|Pl\.?|Terrace|Parkway)"
_ADDRESS = re.compile(
    rf"""
    \b\d{{1,5}}[ ]+(?:[NSEW]\.?[ ]+)?(?:[A-Z][a-z]+[ ]+){{1,3}}{_STREET_EN}(?![\w])(?:,?[ ]+(?:Apt|Suite|Unit)\.?[ ]+\w+)?
      (?:,[ ]*[A-Z][a-z]+(?:[ ][A-Z][a-z]+)?(?:,?[ ]+[A-Z]{{2}})?[ ]+\d{{5}}(?:-\d{{4}})?)?
  | \b[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ]?[a-zäöüß]+)*(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|ufer)[ ]+\d{{1,4}}[ ]?[a-z]?\b
      (?:,[ ]*\d{{5}}[ ]+[A-ZÄÖÜ][a-zäöüß]+)?
  | \b\d{{1,4}}(?:[ ]?(?:bis|ter))?,?[ ]+(?:rue|avenue|boulevard|bd|place|all[ée]e|chemin|impasse|quai|cours)[ ]+
      (?:(?:de[ ]la|de[ ]l'|du|des|de|d')[ ]?)?[A-ZÀ-Þ][\w'’-]+(?:[ ][A-ZÀ-Þ][\w'’-]+)*(?:,[ ]*\d{{5}}[ ]+[A-ZÀ-Þ][\w-]+)?
  | \b(?:Calle|C/|Avenida|Avda\.?|Plaza|Paseo|Camino|Carrer)[ ]+(?:(?:de[ ]la|del|de|de[ ]los)[ ]+)?[A-ZÁÉÍÓÚÑ][\wáéíóúñ]+(?:[ ][A-ZÁÉÍÓÚÑ][\wáéíóúñ]+)*,?[ ]+(?:n[º°o]\.?[ ]*)?\d{{1,4}}
      (?:,[ ]*\d{{5}}[ ]+[A-ZÁÉÍÓÚÑ][\wáéíóúñ]+)?
    """,
    re.VERBOSE,
)


def find_person_names(text: str) -> Iterator[Finding]:
    for match in _PERSON.finditer(text):
        group = match.lastgroup or "honorific"
        yield Finding("pii.person_name", match.start(group), match.end(group), 0.7, "person's name")


def find_addresses(text: str) -> Iterator[Finding]:
    for match in _ADDRESS.finditer(text):
        yield Finding("pii.address", match.start(), match.end(), 0.75, "postal address")
