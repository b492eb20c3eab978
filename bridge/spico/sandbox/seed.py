"""Deterministic synthetic regional directory for the SPICO sandbox.

Everything comes from ``random.Random(seed)`` so that a seed number names one directory: tests,
demos and bug reports can all refer to "seed 42". Names are drawn from common French first and
last names and combined at random; no record describes a real person or patient. Identifiers
have the real shapes and valid keys (Luhn for RPPS/ADELI/FINESS, 97-modulus for the INS).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from bridge.core.identifiers import INS_OID_TEST, ins_key, luhn_complete

DEFAULT_MAIL_DOMAIN = "sandbox.mssante.fr"
DEFAULT_PROFESSIONAL_COUNT = 2400
DEFAULT_STRUCTURE_COUNT = 64
DEFAULT_PATIENT_COUNT = 240

#: Occitanie departments and a few of their towns (the department prefixes ADELI and FINESS).
OCCITANIE_CITIES: dict[str, tuple[str, ...]] = {
    "09": ("Foix", "Pamiers", "Saint-Girons"),
    "11": ("Carcassonne", "Narbonne", "Castelnaudary", "Limoux"),
    "12": ("Rodez", "Millau", "Villefranche-de-Rouergue"),
    "30": ("Nîmes", "Alès", "Bagnols-sur-Cèze", "Uzès"),
    "31": ("Toulouse", "Colomiers", "Blagnac", "Muret", "Saint-Gaudens", "Tournefeuille"),
    "32": ("Auch", "Condom", "Fleurance"),
    "34": ("Montpellier", "Béziers", "Sète", "Lunel", "Agde", "Lodève"),
    "46": ("Cahors", "Figeac", "Gourdon"),
    "48": ("Mende", "Marvejols", "Florac"),
    "65": ("Tarbes", "Lourdes", "Bagnères-de-Bigorre"),
    "66": ("Perpignan", "Canet-en-Roussillon", "Prades", "Céret"),
    "81": ("Albi", "Castres", "Gaillac", "Lavaur"),
    "82": ("Montauban", "Castelsarrasin", "Moissac"),
}
#: Heavier weight for the two metropolitan departments, as in the real population.
_DEPARTMENT_WEIGHTS = {
    "31": 6,
    "34": 5,
    "30": 3,
    "66": 2,
    "11": 2,
    "81": 2,
    "82": 1,
    "65": 1,
    "12": 1,
    "32": 1,
    "46": 1,
    "09": 1,
    "48": 1,
}

MALE_FIRST_NAMES = (
    "Jean",
    "Pierre",
    "Michel",
    "André",
    "Philippe",
    "Alain",
    "Bernard",
    "Jacques",
    "Daniel",
    "Christophe",
    "Nicolas",
    "Julien",
    "Thomas",
    "Antoine",
    "Mathieu",
    "Sébastien",
    "Laurent",
    "François",
    "Olivier",
    "Guillaume",
    "Hugo",
    "Lucas",
    "Théo",
    "Maxime",
    "Arnaud",
    "Benoît",
    "Cédric",
    "Damien",
    "Émile",
    "Fabrice",
    "Gérard",
    "Hervé",
    "Jérôme",
    "Loïc",
    "Raphaël",
    "Rémi",
    "Stéphane",
    "Thierry",
    "Vincent",
    "Yannick",
    "Joël",
    "Xavier",
)
FEMALE_FIRST_NAMES = (
    "Marie",
    "Nathalie",
    "Isabelle",
    "Sylvie",
    "Catherine",
    "Françoise",
    "Valérie",
    "Christine",
    "Sandrine",
    "Céline",
    "Julie",
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Emma",
    "Sophie",
    "Aurélie",
    "Hélène",
    "Élodie",
    "Amélie",
    "Anaïs",
    "Béatrice",
    "Claire",
    "Delphine",
    "Élise",
    "Florence",
    "Gaëlle",
    "Inès",
    "Joséphine",
    "Laure",
    "Mathilde",
    "Noémie",
    "Océane",
    "Pauline",
    "Renée",
    "Solène",
    "Virginie",
    "Zoé",
    "Agnès",
    "Maëlle",
    "Cécile",
)
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Mathieu",
    "Clément",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
    "Robin",
    "Masson",
    "Sanchez",
    "Noël",
    "Boyer",
    "Barbier",
    "Arnaud",
    "Marchand",
    "Brun",
    "Rey",
    "Roche",
    "Roy",
    "Fabre",
    "Rivière",
    "Sabatier",
    "Cazals",
    "Delmas",
    "Vidal",
    "Bousquet",
    "Couderc",
    "Pujol",
    "Espinasse",
    "Rouquette",
    "Azéma",
    "Carrère",
    "Baylac",
    "Soulié",
    "Lacombe",
    "Castéran",
    "Maurel",
    "Teisseire",
    "Puech",
    "Costes",
    "Séguier",
    "Bascou",
    "Verdier",
    "Marty",
    "Cabrol",
    "Combes",
    "Escudié",
    "Falguières",
    "Gasc",
    "Lafon",
    "Mazars",
    "Nègre",
    "Olivier",
    "Pélissier",
    "Quintana",
    "Raynaud",
    "Salvan",
    "Tournier",
    "Valette",
    "Abadie",
    "Barthe",
    "Dauzat",
    "Estève",
    "Ferrand",
    "Galy",
    "Jammes",
    "Lagarde",
)


@dataclass(frozen=True, slots=True)
class Profession:
    """A profession of the directory: its label, how it is registered, and its care role."""

    label: str
    weight: int
    registry: str  # "rpps" or "adeli"
    doctor: bool
    role: str  # in a care circle (the first general practitioner is "médecin traitant")


PROFESSIONS = (
    Profession("médecin généraliste", 22, "rpps", True, "médecin généraliste"),
    Profession("infirmier", 22, "rpps", False, "infirmier"),
    Profession("kinésithérapeute", 8, "rpps", False, "kinésithérapeute"),
    Profession("pharmacien", 8, "rpps", False, "pharmacien"),
    Profession("sage-femme", 3, "rpps", False, "sage-femme"),
    Profession("chirurgien-dentiste", 4, "rpps", True, "chirurgien-dentiste"),
    Profession("cardiologue", 3, "rpps", True, "cardiologue"),
    Profession("psychiatre", 3, "rpps", True, "psychiatre"),
    Profession("gériatre", 2, "rpps", True, "gériatre"),
    Profession("pédiatre", 2, "rpps", True, "pédiatre"),
    Profession("oncologue", 2, "rpps", True, "oncologue"),
    Profession("orthophoniste", 2, "adeli", False, "orthophoniste"),
    Profession("psychologue", 4, "adeli", False, "psychologue"),
    Profession("assistant social", 3, "adeli", False, "assistant social"),
    Profession("ergothérapeute", 2, "adeli", False, "ergothérapeute"),
    Profession("secrétaire médicale", 3, "adeli", False, "secrétaire médicale"),
)
_PROFESSION_BY_LABEL = {profession.label: profession for profession in PROFESSIONS}
SECRETARY = "secrétaire médicale"

#: Presence statuses of account holders (professionals without an account are "inactive").
STATUS_WEIGHTS = {"online": 20, "active": 45, "absent": 15, "inactive": 20}
ACCOUNT_SHARE = 0.9

STRUCTURE_KINDS = (
    ("Centre hospitalier", "ch"),
    ("Clinique", "clinique"),
    ("EHPAD", "ehpad"),
    ("Maison de santé pluriprofessionnelle", "msp"),
    ("Centre de santé", "cds"),
    ("Service de soins infirmiers à domicile", "ssiad"),
    ("Pharmacie", "pharmacie"),
)
STRUCTURE_NAME_SUFFIXES = (
    "des Cèdres",
    "Saint-Jacques",
    "du Parc",
    "les Tilleuls",
    "des Oliviers",
    "du Canal",
    "Pasteur",
    "la Garrigue",
    "du Pont-Vieux",
    "les Pins",
    "des Capitouls",
    "Sainte-Marie",
)

RESOURCE_TEAMS = (
    (
        "emsp-toulouse",
        "Équipe mobile de soins palliatifs",
        "Toulouse",
        "Appui aux équipes de soins pour les patients en situation palliative.",
    ),
    (
        "dac-31",
        "Dispositif d'appui à la coordination 31",
        "Toulouse",
        "Coordination des parcours de santé complexes en Haute-Garonne.",
    ),
    (
        "dac-34",
        "Dispositif d'appui à la coordination 34",
        "Montpellier",
        "Coordination des parcours de santé complexes dans l'Hérault.",
    ),
    (
        "emg-nimes",
        "Équipe mobile de gériatrie",
        "Nîmes",
        "Évaluation gériatrique et conseil aux équipes.",
    ),
    (
        "errsp-occitanie",
        "Équipe ressource régionale de soins palliatifs pédiatriques",
        "Toulouse",
        "Soutien aux soignants d'enfants en soins palliatifs.",
    ),
    (
        "empp-perpignan",
        "Équipe mobile psychiatrie précarité",
        "Perpignan",
        "Accès aux soins psychiatriques des personnes en situation de précarité.",
    ),
)

_BIRTH_COMMUNE_RANGE = (1, 990)


@dataclass(frozen=True, slots=True)
class SeedProfessional:
    id: str
    id_kind: str
    rpps: str | None
    adeli: str | None
    civility: str
    first_name: str
    last_name: str
    profession: str
    city: str
    structure_id: str | None
    mssante_address: str
    status: str
    has_account: bool


@dataclass(frozen=True, slots=True)
class SeedStructure:
    id: str
    finess: str
    name: str
    kind: str
    city: str
    mssante_address: str


@dataclass(frozen=True, slots=True)
class SeedPatient:
    id: str
    ins: str
    ins_oid: str
    first_name: str
    last_name: str
    birth_date: str
    sex: str


@dataclass(frozen=True, slots=True)
class SeedCareCircleMember:
    patient_id: str
    professional_id: str
    role: str


@dataclass(frozen=True, slots=True)
class SeedDelegation:
    """``holder_id`` may act as ``account_id``."""

    holder_id: str
    account_id: str


@dataclass(frozen=True, slots=True)
class SeedResourceTeam:
    id: str
    name: str
    description: str
    mssante_address: str
    members: tuple[str, ...]


@dataclass(slots=True)
class Directory:
    """The whole seeded directory, ready to be written to the sandbox database."""

    professionals: list[SeedProfessional] = field(default_factory=list)
    structures: list[SeedStructure] = field(default_factory=list)
    patients: list[SeedPatient] = field(default_factory=list)
    care_circles: list[SeedCareCircleMember] = field(default_factory=list)
    active_files: list[tuple[str, str]] = field(default_factory=list)  # (account_id, patient_id)
    delegations: list[SeedDelegation] = field(default_factory=list)
    resource_teams: list[SeedResourceTeam] = field(default_factory=list)


def ascii_slug(text: str, separator: str = "-") -> str:
    """Lower-case ASCII form of a name, for mail local parts (accents dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", separator, ascii_text).strip(separator)


class _Generator:
    """Draws the directory; the draw order is part of the seed's meaning, so keep it stable."""

    def __init__(self, seed: int, mail_domain: str) -> None:
        self.rng = random.Random(seed)
        self.mail_domain = mail_domain
        self.used_numbers: set[str] = set()
        self.used_addresses: set[str] = set()

    def department(self) -> str:
        departments = list(_DEPARTMENT_WEIGHTS)
        return self.rng.choices(departments, weights=list(_DEPARTMENT_WEIGHTS.values()))[0]

    def unique_number(self, make: Callable[[], str]) -> str:
        while True:
            number = make()
            if number not in self.used_numbers:
                self.used_numbers.add(number)
                return number

    def rpps(self) -> str:
        return self.unique_number(lambda: luhn_complete("10" + f"{self.rng.randrange(10**8):08d}"))

    def adeli(self, department: str) -> str:
        return self.unique_number(
            lambda: luhn_complete(department + f"{self.rng.randrange(10**6):06d}")
        )

    def finess(self, department: str) -> str:
        return self.unique_number(
            lambda: luhn_complete(department + "0" + f"{self.rng.randrange(10**5):05d}")
        )

    def address(self, local_part: str) -> str:
        candidate, counter = local_part, 1
        while f"{candidate}@{self.mail_domain}" in self.used_addresses:
            counter += 1
            candidate = f"{local_part}-{counter}"
        address = f"{candidate}@{self.mail_domain}"
        self.used_addresses.add(address)
        return address

    def person_name(self) -> tuple[str, str, str]:
        """(sex, first name, last name); sex is "M" or "F"."""
        sex = self.rng.choice("MF")
        first_names = MALE_FIRST_NAMES if sex == "M" else FEMALE_FIRST_NAMES
        return sex, self.rng.choice(first_names), self.rng.choice(LAST_NAMES)

    def structures(self, count: int) -> list[SeedStructure]:
        structures: list[SeedStructure] = []
        used_names: set[str] = set()
        departments = list(OCCITANIE_CITIES)
        for index in range(count):
            # Every department gets structures before any gets a second one.
            department = departments[index] if index < len(departments) else self.department()
            city = self.rng.choice(OCCITANIE_CITIES[department])
            kind, short = self.rng.choice(STRUCTURE_KINDS)
            name = f"{kind} {self.rng.choice(STRUCTURE_NAME_SUFFIXES)} de {city}"
            while name in used_names:
                name = f"{kind} {self.rng.choice(STRUCTURE_NAME_SUFFIXES)} de {city}"
                if name in used_names:
                    name = f"{name} {self.rng.randint(2, 9)}"
            used_names.add(name)
            finess = self.finess(department)
            address = self.address(f"{short}.{ascii_slug(city)}")
            structures.append(SeedStructure("1" + finess, finess, name, kind, city, address))
        return structures

    def professionals(self, count: int, structures: list[SeedStructure]) -> list[SeedProfessional]:
        by_city: dict[str, list[SeedStructure]] = {}
        for structure in structures:
            by_city.setdefault(structure.city, []).append(structure)
        professionals: list[SeedProfessional] = []
        labels = [profession.label for profession in PROFESSIONS]
        weights = [profession.weight for profession in PROFESSIONS]
        statuses = list(STATUS_WEIGHTS)
        for _ in range(count):
            profession = _PROFESSION_BY_LABEL[self.rng.choices(labels, weights=weights)[0]]
            department = self.department()
            city = self.rng.choice(OCCITANIE_CITIES[department])
            sex, first_name, last_name = self.person_name()
            civility = "Dr" if profession.doctor else ("M." if sex == "M" else "Mme")
            if profession.registry == "rpps":
                rpps, adeli = self.rpps(), None
                id_nat = "8" + rpps
            else:
                rpps, adeli = None, self.adeli(department)
                id_nat = "0" + adeli
            has_account = self.rng.random() < ACCOUNT_SHARE
            status = (
                self.rng.choices(statuses, weights=list(STATUS_WEIGHTS.values()))[0]
                if has_account
                else "inactive"
            )
            local_structures = by_city.get(city, [])
            structure_id = (
                self.rng.choice(local_structures).id
                if local_structures and self.rng.random() < 0.5
                else None
            )
            address = self.address(f"{ascii_slug(first_name)}.{ascii_slug(last_name)}")
            professionals.append(
                SeedProfessional(
                    id=id_nat,
                    id_kind=profession.registry,
                    rpps=rpps,
                    adeli=adeli,
                    civility=civility,
                    first_name=first_name,
                    last_name=last_name,
                    profession=profession.label,
                    city=city,
                    structure_id=structure_id,
                    mssante_address=address,
                    status=status,
                    has_account=has_account,
                )
            )
        return professionals

    def patients(self, count: int) -> list[SeedPatient]:
        patients: list[SeedPatient] = []
        used_ins: set[str] = set()
        for index in range(count):
            sex, first_name, last_name = self.person_name()
            birth = date(
                self.rng.randint(1930, 2020), self.rng.randint(1, 12), self.rng.randint(1, 28)
            )
            while True:
                body = (
                    ("1" if sex == "M" else "2")
                    + f"{birth.year % 100:02d}{birth.month:02d}"
                    + self.department()
                    + f"{self.rng.randint(*_BIRTH_COMMUNE_RANGE):03d}"
                    + f"{self.rng.randint(1, 999):03d}"
                )
                ins = body + ins_key(body)
                if ins not in used_ins:
                    used_ins.add(ins)
                    break
            patients.append(
                SeedPatient(
                    id=f"pat-{index + 1:05d}",
                    ins=ins,
                    ins_oid=INS_OID_TEST,
                    first_name=first_name,
                    last_name=last_name.upper(),
                    birth_date=birth.isoformat(),
                    sex=sex,
                )
            )
        return patients


def generate_directory(
    seed: int,
    *,
    mail_domain: str = DEFAULT_MAIL_DOMAIN,
    professional_count: int = DEFAULT_PROFESSIONAL_COUNT,
    structure_count: int = DEFAULT_STRUCTURE_COUNT,
    patient_count: int = DEFAULT_PATIENT_COUNT,
) -> Directory:
    """Generate the directory named by ``seed`` (same arguments → identical directory)."""
    generator = _Generator(seed, mail_domain)
    rng = generator.rng
    directory = Directory()
    directory.structures = generator.structures(structure_count)
    directory.professionals = generator.professionals(professional_count, directory.structures)
    directory.patients = generator.patients(patient_count)

    account_holders = [p for p in directory.professionals if p.has_account]
    general_practitioners = [p for p in account_holders if p.profession == "médecin généraliste"]
    for patient in directory.patients:
        doctor = rng.choice(general_practitioners)
        others = [p for p in rng.sample(account_holders, 6) if p.id != doctor.id]
        circle = [doctor, *others[: rng.randint(1, 5)]]
        for position, member in enumerate(circle):
            role = (
                "médecin traitant"
                if position == 0
                else _PROFESSION_BY_LABEL[member.profession].role
            )
            directory.care_circles.append(SeedCareCircleMember(patient.id, member.id, role))
            directory.active_files.append((member.id, patient.id))

    doctors = [p for p in account_holders if _PROFESSION_BY_LABEL[p.profession].doctor]
    secretaries = [p for p in account_holders if p.profession == SECRETARY]
    for secretary in secretaries:
        same_city = [d for d in doctors if d.city == secretary.city] or doctors
        for doctor in rng.sample(same_city, min(len(same_city), rng.randint(1, 2))):
            directory.delegations.append(SeedDelegation(secretary.id, doctor.id))

    for slug, name, city, description in RESOURCE_TEAMS:
        local = [p for p in account_holders if p.city == city] or account_holders
        members = tuple(member.id for member in rng.sample(local, rng.randint(3, 6)))
        directory.resource_teams.append(
            SeedResourceTeam(
                id=slug,
                name=name,
                description=description,
                mssante_address=generator.address(slug),
                members=members,
            )
        )
    return directory
