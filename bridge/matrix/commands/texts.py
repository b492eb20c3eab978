"""What the ``!spico`` commands say, in French and English (pure).

Every reply to a mapped user starts with the account they act as ("Agir en tant que : …").
Refusals from SPICO become sentences a professional understands (``refusal_text``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.core.composer import (
    CareCircleView,
    DirectoryEntry,
    PatientEntry,
    RecentSearchEntry,
    TeamEntry,
)
from bridge.matrix.formatting import status_label

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "acting": "Agir en tant que : {name}",
        "unknown": "Commande inconnue : « {word} ». Tapez « {prefix}aide ».",
        "bad_option": "Option inconnue : {option}. Tapez « {prefix}aide {command} ».",
        "unmapped": "Votre compte Matrix n'est associé à aucun professionnel SPICO : les "
        "commandes ne vous sont pas ouvertes. Demandez à l'administrateur du pont.",
        "portal_only": "Cette commande agit sur une conversation : tapez-la dans le salon de "
        "la conversation (« {prefix}{command} … »).",
        "private_elsewhere": "Par confidentialité, la réponse est dans votre salon de gestion "
        "avec le bot.",
        "private_no_room": "Par confidentialité, cette réponse ne s'affiche pas dans un salon "
        "partagé : invitez le bot ({bot}) dans un salon privé (message direct) et tapez-y la "
        "commande.",
        "welcome": "Bonjour ! Je suis le pont SPICO. Dans ce salon privé, tapez les commandes "
        "sans préfixe (par exemple « aide », « recherche dupont », « nouveau »).",
        "no_longer_private": "Ce salon n'est plus privé : je n'y réponds plus. Invitez-moi "
        "dans un salon où vous êtes seul avec moi.",
        # as
        "accounts_title": "Comptes au nom desquels vous pouvez agir :",
        "accounts_hint": "Choisissez avec « as <numéro> » (ou « agir <numéro> »).",
        "acting_set": "C'est noté : vos commandes et vos messages dans les salons SPICO "
        "partent désormais au nom de {name}.",
        "acting_self": "C'est noté : vous agissez en votre nom propre.",
        "no_delegation_for": "Vous n'avez pas de délégation pour agir au nom de {target}. "
        "Tapez « as » pour voir les comptes possibles.",
        # directory
        "search_usage": "Précisez ce que vous cherchez : « recherche <nom, ville, "
        "profession, RPPS…> » (ajoutez « --structures » pour les établissements).",
        "search_title": "Annuaire — « {q} » :",
        "search_structures_title": "Annuaire des structures — « {q} » :",
        "search_none": "Aucun résultat pour « {q} ».",
        "search_more": "(les {count} premiers résultats ; précisez la recherche pour en voir "
        "d'autres)",
        "numbers_hint": "Utilisez les numéros dans « nouveau », « invite », « fav add » "
        "(par exemple « 1,3 »).",
        "no_account": "sans compte SPICO",
        "recent_title": "Recherches récentes :",
        "recent_none": "Aucune recherche récente.",
        "recent_hint": "« récentes <numéro> » relance une recherche.",
        "fav_title": "Favoris :",
        "fav_none": "Aucun favori. Ajoutez-en avec « fav add <numéro|idNat> » après une recherche.",
        "fav_added": "Ajouté aux favoris : {names}.",
        "fav_removed": "Retiré des favoris : {names}.",
        "fav_usage": "« fav list », « fav add <numéro|idNat> » ou « fav rm <numéro|idNat> ».",
        # patients
        "patients_title": "File active de {name} :",
        "patients_none": "La file active de {name} est vide.",
        "patients_hint": "« cercle <numéro> » montre le cercle de soins d'un patient.",
        "born": "né(e) le {date}",
        "circle_title": "Cercle de soins de {patient} :",
        "circle_none": "Le cercle de soins de {patient} est vide.",
        "circle_hint": "« nouveau » démarre une conversation sur ce patient : le patient est "
        "prérempli et vous choisissez les participants par leur numéro.",
        "circle_usage": "Précisez le patient : « cercle <numéro> » (après « patients ») ou "
        "« cercle <identifiant patient> ».",
        # teams
        "teams_title": "Équipes ressources :",
        "teams_none": "Aucune équipe ressource.",
        "teams_hint": "« équipe <numéro|nom> <message> » sollicite une équipe : une "
        "conversation est créée avec elle.",
        "team_usage": "Écrivez le message de la sollicitation : « équipe <numéro|nom> <message> ».",
        "team_unknown": "Aucune équipe ressource ne correspond à « {ref} ». Tapez « équipe ».",
        "team_ambiguous": "Plusieurs équipes correspondent à « {ref} » : {names}. Précisez "
        "(numéro ou identifiant).",
        "team_requested": "Équipe sollicitée : {team}. La conversation « {subject} » est "
        "créée dans SPICO ; son salon Matrix va apparaître.",
        # new
        "new_created": "Conversation créée dans SPICO : « {subject} » ({conversation}).",
        "new_room": "Son salon Matrix va apparaître ; y seront invités : {users}.",
        "new_no_room": "Aucun de ses participants n'a de compte Matrix associé : elle reste "
        "dans SPICO (et par courriel pour les participants concernés).",
        "new_members": "Participants : {names}",
        "new_patient": "Patient : {patient}",
        "new_no_patient": "Patient : aucun",
        "new_subject": "Sujet : {subject}",
        "new_message": "Premier message : {message}",
        "ask_members": "Nouvelle conversation — qui y participe ? Donnez des numéros de la "
        "dernière liste (« 1,3 »), des comptes Matrix (@nom:serveur), des idNat ou des "
        "adresses MSSanté. Vous pouvez aussi taper « recherche … » ou « fav » d'abord. "
        "« annuler » pour abandonner.",
        "ask_members_circle": "Nouvelle conversation sur {patient} — qui y participe ? "
        "Répondez par les numéros du cercle de soins (« 1,3 ») ou d'autres participants "
        "(@nom:serveur, idNat, adresse MSSanté). « annuler » pour abandonner.",
        "ask_patient": "Quel patient ? Un numéro de « patients », un identifiant patient, ou "
        "« aucun ».",
        "ask_subject": "Quel est le sujet de la conversation ? (obligatoire)",
        "ask_message": "Écrivez le premier message.",
        "ask_confirm": "Répondez « oui » pour créer la conversation, « annuler » pour abandonner.",
        "summary_title": "Récapitulatif :",
        "dialogue_cancelled": "Nouvelle conversation abandonnée.",
        "nothing_to_cancel": "Rien à annuler.",
        "dialogue_elsewhere": "La suite de « nouveau » se fait dans votre salon de gestion "
        "avec le bot.",
        "dialogue_no_room": "Il manque des éléments (participants, sujet ou premier "
        'message). Donnez tout sur une ligne : « {prefix}nouveau 1,3 --sujet "Sujet" -- '
        "premier message », ou invitez le bot ({bot}) dans un salon privé pour être guidé.",
        "subject_missing": "Le sujet est obligatoire : écrivez-le.",
        "message_missing": "Le premier message ne peut pas être vide : écrivez-le.",
        "members_missing": "Indiquez au moins un participant.",
        "confirm_expected": "Répondez « oui » pour créer la conversation ou « annuler ».",
        "subject_too_long": "Le sujet est trop long ({length} caractères, 200 au plus).",
        # conversation changes
        "invited": "Ajouté(s) à la conversation dans SPICO : {names}. Le salon suit.",
        "removed": "Retiré(s) de la conversation dans SPICO : {names}. Le salon suit.",
        "patient_linked": "Patient rattaché à la conversation dans SPICO : {patient}.",
        "patient_unlinked": "La conversation n'est plus rattachée à un patient.",
        "patient_usage": "« patient <numéro|identifiant> » rattache un patient de votre file "
        "active ; « patient aucun » le détache.",
        "member_usage": "Précisez le participant : numéro de la dernière liste, "
        "@nom:serveur, idNat ou adresse MSSanté.",
        "inactive_note": "{name} est {status} dans SPICO : il/elle sera prévenu(e) par courriel.",
        "inactive_note_no_mail": "{name} est {status} dans SPICO et le pont n'envoie pas de "
        "courriel : il/elle verra la conversation à sa prochaine connexion.",
        # notify
        "notify_queued": "Notification par courriel envoyée à {name} ({address}) : il/elle "
        "peut répondre au courriel.",
        "notify_no_mail": "La messagerie sécurisée n'est pas activée sur ce pont : impossible "
        "de prévenir {name} par courriel.",
        "notify_disabled": "Les notifications par courriel sont désactivées sur ce pont "
        "(notifications.enabled).",
        "notify_active": "{name} est {status} dans SPICO : il/elle voit la conversation, "
        "pas besoin de notification.",
        "notify_not_member": "{name} ne participe pas à cette conversation.",
        "notify_no_address": "{name} n'a pas d'adresse MSSanté connue : pas de notification "
        "possible.",
        "notify_suppressed": "Pas de nouvelle notification pour {name} : une notification "
        "lui a été envoyée le {last} et il n'en part qu'une par conversation toutes les "
        "{period}. La prochaine est possible à partir du {next} ; les messages d'ici là lui "
        "seront envoyés en récapitulatif.",
        "notify_already": "{name} est déjà prévenu(e) du dernier message de cette "
        "conversation (ou le sera dans le prochain récapitulatif).",
        "notify_no_message": "Aucun message de cette conversation n'est encore passé par le "
        "pont : rien à notifier pour l'instant.",
        # members
        "members_title": "Participants de la conversation SPICO :",
        # errors
        "out_of_range": "Le numéro {number} n'existe pas : la dernière liste {what} compte "
        "{count} élément(s).",
        "no_list": "Pas de liste {what} à laquelle se référer : tapez d'abord « {command} ».",
        "matrix_unmapped": "{user} n'est associé à aucun professionnel SPICO.",
        "unknown_professional": "Aucun professionnel n'a l'identifiant {ref} dans l'annuaire.",
        "unknown_address": "Aucun professionnel n'a l'adresse MSSanté {ref} dans l'annuaire.",
        "structure_member": "{name} est une structure : une conversation réunit des "
        "professionnels. Choisissez un professionnel.",
        "unknown_patient": "Patient inconnu : aucun dossier patient « {ref} ».",
        "unavailable": "SPICO ne répond pas pour le moment : réessayez dans quelques minutes.",
        "refused": "SPICO a refusé : {message}",
        "no_delegation": "Vous n'avez pas (ou plus) de délégation pour agir au nom de ce "
        "compte. Tapez « as » pour choisir un compte.",
        "no_patient_access": "Vous n'avez pas accès à ce patient : le compte au nom duquel "
        "vous agissez n'est ni dans son cercle de soins ni dans sa file active.",
        "not_a_member": "Le compte au nom duquel vous agissez ne participe pas à cette "
        "conversation.",
        "unknown_member": "Un des participants n'existe pas dans l'annuaire SPICO.",
        "last_member": "Le dernier participant ne peut pas quitter la conversation.",
        "refused_no_account": "Ce professionnel n'a pas de compte SPICO.",
        "not_found": "SPICO ne trouve pas ce que vous demandez ({message}).",
        "bad_request": "SPICO a refusé la demande : {message}",
    },
    "en": {
        "acting": "Acting as: {name}",
        "unknown": "Unknown command: “{word}”. Type “{prefix}help”.",
        "bad_option": "Unknown option: {option}. Type “{prefix}help {command}”.",
        "unmapped": "Your Matrix account is not mapped to a SPICO professional: commands are "
        "not open to you. Ask the bridge's administrator.",
        "portal_only": "This command acts on a conversation: type it in the conversation's "
        "room (“{prefix}{command} …”).",
        "private_elsewhere": "For confidentiality, the answer is in your management room "
        "with the bot.",
        "private_no_room": "For confidentiality, this answer is not shown in a shared room: "
        "invite the bot ({bot}) to a private room (direct message) and type the command there.",
        "welcome": "Hello! I am the SPICO bridge. In this private room, type commands without "
        "a prefix (for instance “help”, “search dupont”, “new”).",
        "no_longer_private": "This room is no longer private: I stop answering here. Invite me "
        "to a room where you are alone with me.",
        "accounts_title": "Accounts you may act as:",
        "accounts_hint": "Choose with “as <number>”.",
        "acting_set": "Noted: your commands and your messages in SPICO rooms now go out as {name}.",
        "acting_self": "Noted: you act as yourself.",
        "no_delegation_for": "You hold no delegation to act as {target}. Type “as” to see the "
        "accounts you may act as.",
        "search_usage": "Say what you are looking for: “search <name, city, profession, "
        "RPPS…>” (add “--structures” for organisations).",
        "search_title": "Directory — “{q}”:",
        "search_structures_title": "Organisations — “{q}”:",
        "search_none": "No result for “{q}”.",
        "search_more": "(the first {count} results; refine the search to see others)",
        "numbers_hint": "Use the numbers in “new”, “invite”, “fav add” (for instance “1,3”).",
        "no_account": "no SPICO account",
        "recent_title": "Recent searches:",
        "recent_none": "No recent search.",
        "recent_hint": "“recent <number>” runs a search again.",
        "fav_title": "Favorites:",
        "fav_none": "No favorites. Add some with “fav add <number|idNat>” after a search.",
        "fav_added": "Added to favorites: {names}.",
        "fav_removed": "Removed from favorites: {names}.",
        "fav_usage": "“fav list”, “fav add <number|idNat>” or “fav rm <number|idNat>”.",
        "patients_title": "Active file list of {name}:",
        "patients_none": "The active file list of {name} is empty.",
        "patients_hint": "“circle <number>” shows a patient's care circle.",
        "born": "born {date}",
        "circle_title": "Care circle of {patient}:",
        "circle_none": "The care circle of {patient} is empty.",
        "circle_hint": "“new” starts a conversation about this patient: the patient is "
        "pre-filled and you pick the members by number.",
        "circle_usage": "Name the patient: “circle <number>” (after “patients”) or “circle "
        "<patient id>”.",
        "teams_title": "Resource teams:",
        "teams_none": "No resource team.",
        "teams_hint": "“team <number|name> <message>” requests a team: a conversation with it "
        "is created.",
        "team_usage": "Write the request: “team <number|name> <message>”.",
        "team_unknown": "No resource team matches “{ref}”. Type “team”.",
        "team_ambiguous": "Several teams match “{ref}”: {names}. Be more precise (number or id).",
        "team_requested": "Team requested: {team}. The conversation “{subject}” is created in "
        "SPICO; its Matrix room will appear.",
        "new_created": "Conversation created in SPICO: “{subject}” ({conversation}).",
        "new_room": "Its Matrix room will appear; invited: {users}.",
        "new_no_room": "None of its members has a mapped Matrix account: it stays in SPICO "
        "(and mail for the members concerned).",
        "new_members": "Members: {names}",
        "new_patient": "Patient: {patient}",
        "new_no_patient": "Patient: none",
        "new_subject": "Subject: {subject}",
        "new_message": "First message: {message}",
        "ask_members": "New conversation — who takes part? Give numbers from the last list "
        "(“1,3”), Matrix users (@name:server), idNats or MSSanté addresses. You may type "
        "“search …” or “fav” first. “cancel” to give up.",
        "ask_members_circle": "New conversation about {patient} — who takes part? Answer with "
        "care circle numbers (“1,3”) or other members (@name:server, idNat, MSSanté "
        "address). “cancel” to give up.",
        "ask_patient": "Which patient? A number from “patients”, a patient id, or “none”.",
        "ask_subject": "What is the conversation's subject? (required)",
        "ask_message": "Write the first message.",
        "ask_confirm": "Answer “yes” to create the conversation, “cancel” to give up.",
        "summary_title": "Summary:",
        "dialogue_cancelled": "New conversation cancelled.",
        "nothing_to_cancel": "Nothing to cancel.",
        "dialogue_elsewhere": "“new” goes on in your management room with the bot.",
        "dialogue_no_room": "Something is missing (members, subject or first message). Give "
        'it all on one line: “{prefix}new 1,3 --subject "Subject" -- first message”, or '
        "invite the bot ({bot}) to a private room to be guided.",
        "subject_missing": "The subject is required: write it.",
        "message_missing": "The first message cannot be empty: write it.",
        "members_missing": "Name at least one member.",
        "confirm_expected": "Answer “yes” to create the conversation or “cancel”.",
        "subject_too_long": "The subject is too long ({length} characters, 200 at most).",
        "invited": "Added to the conversation in SPICO: {names}. The room follows.",
        "removed": "Removed from the conversation in SPICO: {names}. The room follows.",
        "patient_linked": "Patient linked to the conversation in SPICO: {patient}.",
        "patient_unlinked": "The conversation is no longer linked to a patient.",
        "patient_usage": "“patient <number|id>” links a patient of your active file list; "
        "“patient none” unlinks it.",
        "member_usage": "Name the member: number of the last list, @name:server, idNat or "
        "MSSanté address.",
        "inactive_note": "{name} is {status} in SPICO: they will be notified by mail.",
        "inactive_note_no_mail": "{name} is {status} in SPICO and this bridge sends no mail: "
        "they will see the conversation when they next log in.",
        "notify_queued": "Mail notification sent to {name} ({address}): they can answer the mail.",
        "notify_no_mail": "Secure mail is not enabled on this bridge: {name} cannot be "
        "notified by mail.",
        "notify_disabled": "Mail notifications are disabled on this bridge "
        "(notifications.enabled).",
        "notify_active": "{name} is {status} in SPICO: they see the conversation, no "
        "notification needed.",
        "notify_not_member": "{name} is not a member of this conversation.",
        "notify_no_address": "{name} has no known MSSanté address: no notification possible.",
        "notify_suppressed": "No new notification for {name}: one was sent on {last} and "
        "only one goes per conversation every {period}. The next is possible from {next}; "
        "messages until then will reach them in a digest.",
        "notify_already": "{name} is already notified of this conversation's latest message "
        "(or will be in the next digest).",
        "notify_no_message": "No message of this conversation went through the bridge yet: "
        "nothing to notify about for now.",
        "members_title": "Members of the SPICO conversation:",
        "out_of_range": "There is no number {number}: the last {what} list has {count} item(s).",
        "no_list": "No {what} list to refer to: type “{command}” first.",
        "matrix_unmapped": "{user} is not mapped to a SPICO professional.",
        "unknown_professional": "No professional has the id {ref} in the directory.",
        "unknown_address": "No professional has the MSSanté address {ref} in the directory.",
        "structure_member": "{name} is an organisation: conversations are between "
        "professionals. Choose a professional.",
        "unknown_patient": "Unknown patient: no patient file “{ref}”.",
        "unavailable": "SPICO is not answering right now: try again in a few minutes.",
        "refused": "SPICO refused: {message}",
        "no_delegation": "You hold no (or no longer a) delegation to act as this account. "
        "Type “as” to choose an account.",
        "no_patient_access": "You have no access to this patient: the account you act as is "
        "neither in their care circle nor has them in its active file list.",
        "not_a_member": "The account you act as is not a member of this conversation.",
        "unknown_member": "One of the members does not exist in the SPICO directory.",
        "last_member": "The last member cannot leave the conversation.",
        "refused_no_account": "This professional has no SPICO account.",
        "not_found": "SPICO cannot find what you asked for ({message}).",
        "bad_request": "SPICO refused the request: {message}",
    },
}

#: Names of the numbered lists, for "number out of range" sentences.
LIST_NAMES = {
    "fr": {
        "directory": "de professionnels",
        "patients": "de patients",
        "accounts": "de comptes",
        "teams": "d'équipes",
        "recent": "de recherches",
    },
    "en": {
        "directory": "directory",
        "patients": "patients",
        "accounts": "accounts",
        "teams": "teams",
        "recent": "searches",
    },
}
#: The command that fills each list (for "type … first").
LIST_COMMANDS = {
    "fr": {
        "directory": "recherche …",
        "patients": "patients",
        "accounts": "as",
        "teams": "équipe",
        "recent": "récentes",
    },
    "en": {
        "directory": "search …",
        "patients": "patients",
        "accounts": "as",
        "teams": "team",
        "recent": "recent",
    },
}
ID_KINDS = {"rpps": "RPPS", "adeli": "ADELI", "finess": "FINESS"}

#: Refusal codes SPICO answers with → TEXTS keys.
REFUSALS = {
    "no_delegation": "no_delegation",
    "no_patient_access": "no_patient_access",
    "not_a_member": "not_a_member",
    "unknown_member": "unknown_member",
    "last_member": "last_member",
    "no_account": "refused_no_account",
    "not_found": "not_found",
    "bad_request": "bad_request",
}


def text(key: str, language: str = "fr", **values: object) -> str:
    table = TEXTS.get(language, TEXTS["fr"])
    return table[key].format(**values)


def refusal_text(code: str, message: str, language: str = "fr") -> str:
    """A SPICO refusal as a sentence (SPICO's own sentence when the code is not known)."""
    key = REFUSALS.get(code)
    if key is None:
        return text("refused", language, message=message)
    return text(key, language, message=message)


def with_acting(acting_name: str | None, body: str, language: str = "fr") -> str:
    """Every reply to a mapped user starts with the account they act as."""
    if not acting_name:
        return body
    return f"{text('acting', language, name=acting_name)}\n{body}"


def list_name(kind: str, language: str = "fr") -> str:
    return LIST_NAMES.get(language, LIST_NAMES["fr"]).get(kind, kind)


def list_command(kind: str, language: str = "fr") -> str:
    return LIST_COMMANDS.get(language, LIST_COMMANDS["fr"]).get(kind, kind)


# --- listings --------------------------------------------------------------------------------


def entry_line(number: int | None, entry: DirectoryEntry, language: str = "fr") -> str:
    """ "1. Dr Jeanne MARTIN — médecin généraliste, Toulouse — RPPS 810001234567 — en ligne"."""
    parts = [entry.name]
    where = ", ".join(p for p in (entry.description, entry.city) if p)
    if where:
        parts.append(where)
    parts.append(f"{ID_KINDS.get(entry.id_kind, entry.id_kind.upper())} {entry.id}")
    if entry.kind == "professional":
        status = status_label(entry.status, language)
        if not entry.has_account:
            status = f"{status}, {text('no_account', language)}"
        parts.append(status)
    line = " — ".join(parts)
    return f"{number}. {line}" if number is not None else line


def directory_text(
    title: str, entries: Sequence[DirectoryEntry], language: str = "fr", *, more: int = 0
) -> str:
    lines = [title]
    lines += [entry_line(i, e, language) for i, e in enumerate(entries, 1)]
    if more:
        lines.append(text("search_more", language, count=more))
    lines.append(text("numbers_hint", language))
    return "\n".join(lines)


def search_text(
    q: str,
    entries: Sequence[DirectoryEntry],
    language: str = "fr",
    *,
    structures: bool = False,
    limit: int = 10,
) -> str:
    if not entries:
        return text("search_none", language, q=q)
    title = text("search_structures_title" if structures else "search_title", language, q=q)
    return directory_text(
        title, entries, language, more=len(entries) if len(entries) >= limit else 0
    )


def accounts_text(accounts: Sequence[DirectoryEntry], current: str, language: str = "fr") -> str:
    lines = [text("accounts_title", language)]
    for i, account in enumerate(accounts, 1):
        mark = " ✓" if account.id == current else ""
        lines.append(f"{i}. {account.name} — {account.description} — {account.id}{mark}")
    lines.append(text("accounts_hint", language))
    return "\n".join(lines)


def recent_text(searches: Sequence[RecentSearchEntry], language: str = "fr") -> str:
    if not searches:
        return text("recent_none", language)
    lines = [text("recent_title", language)]
    for i, search in enumerate(searches, 1):
        kind = " (structures)" if search.kind == "structure" else ""
        lines.append(f"{i}. {search.q}{kind} — {search.at:%d/%m/%Y %H:%M}")
    lines.append(text("recent_hint", language))
    return "\n".join(lines)


def favorites_text(entries: Sequence[DirectoryEntry], language: str = "fr") -> str:
    if not entries:
        return text("fav_none", language)
    return directory_text(text("fav_title", language), entries, language)


def _date(iso: str, language: str) -> str:
    if len(iso) == 10 and iso[4] == "-" and language == "fr":
        return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}"
    return iso


def patient_label(patient: PatientEntry, language: str = "fr") -> str:
    """ "Jeanne DUPONT, née le 02/03/1950 (pat-00012)"."""
    born = text("born", language, date=_date(patient.birth_date, language))
    return f"{patient.first_name} {patient.last_name.upper()}, {born} ({patient.id})"


def patients_text(owner: str, patients: Sequence[PatientEntry], language: str = "fr") -> str:
    if not patients:
        return text("patients_none", language, name=owner)
    lines = [text("patients_title", language, name=owner)]
    lines += [f"{i}. {patient_label(p, language)}" for i, p in enumerate(patients, 1)]
    lines.append(text("patients_hint", language))
    return "\n".join(lines)


def circle_text(circle: CareCircleView, language: str = "fr") -> str:
    patient = patient_label(circle.patient, language)
    if not circle.members:
        return text("circle_none", language, patient=patient)
    lines = [text("circle_title", language, patient=patient)]
    for i, member in enumerate(circle.members, 1):
        entry = member.professional
        status = status_label(entry.status, language)
        if not entry.has_account:
            status = f"{status}, {text('no_account', language)}"
        lines.append(f"{i}. {entry.name} — {member.role} — {entry.id} — {status}")
    lines.append(text("circle_hint", language))
    return "\n".join(lines)


def teams_text(teams: Sequence[TeamEntry], language: str = "fr") -> str:
    if not teams:
        return text("teams_none", language)
    lines = [text("teams_title", language)]
    for i, team in enumerate(teams, 1):
        lines.append(f"{i}. {team.name} ({team.id}) — {team.description}")
    lines.append(text("teams_hint", language))
    return "\n".join(lines)


def period_text(minutes: int, language: str = "fr") -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        if language == "fr":
            return "24 heures" if days == 1 else f"{days} jours"
        return "24 hours" if days == 1 else f"{days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return (
            f"{hours} heure{'s' if hours > 1 else ''}"
            if language == "fr"
            else f"{hours} hour{'s' if hours > 1 else ''}"
        )
    return f"{minutes} minutes"


@dataclass(frozen=True, slots=True)
class DraftView:
    """What the summary of a conversation being started shows."""

    members: tuple[str, ...]
    patient: str | None
    subject: str | None
    message: str | None


def summary_text(view: DraftView, language: str = "fr") -> str:
    lines = [text("summary_title", language)]
    lines.append(text("new_members", language, names=", ".join(view.members) or "—"))
    if view.patient:
        lines.append(text("new_patient", language, patient=view.patient))
    else:
        lines.append(text("new_no_patient", language))
    lines.append(text("new_subject", language, subject=view.subject or "—"))
    message = view.message or "—"
    if len(message) > 300:
        message = message[:300] + "…"
    lines.append(text("new_message", language, message=message))
    return "\n".join(lines)


# --- help ------------------------------------------------------------------------------------

HELP = {
    "fr": [
        ("aide [commande]", "cette aide, ou celle d'une commande"),
        (
            "as [numéro|idNat|moi]",
            "« Agir en tant que » : liste vos comptes et délégations, "
            "ou choisit le compte de vos commandes et messages",
        ),
        (
            "recherche <texte> [--structures]",
            "annuaire (statut en ligne / actif / absent / inactif), résultats numérotés",
        ),
        ("récentes [numéro]", "vos recherches récentes (relance la n-ième)"),
        ("fav [list|add|rm] [numéros|idNat]", "vos favoris"),
        ("patients", "la file active du compte au nom duquel vous agissez"),
        ("cercle <numéro|identifiant>", "le cercle de soins d'un patient"),
        (
            'nouveau [participants] [--patient P] [--sujet "…"] [-- message]',
            "démarre une conversation ; sans tout donner, le bot vous guide pas à pas",
        ),
        ("annuler", "abandonne la conversation en cours de création"),
        ("équipe [numéro|nom <message>]", "liste les équipes ressources, ou en sollicite une"),
        ("membres", "salon de conversation : les participants et leur statut"),
        ("inviter <participant…>", "salon de conversation : ajoute des participants"),
        ("retirer <participant…>", "salon de conversation : retire des participants"),
        (
            "patient <numéro|identifiant|aucun>",
            "salon de conversation : rattache ou détache un patient",
        ),
        (
            "prévenir <participant>",
            "salon de conversation : prévient un participant inactif par courriel",
        ),
    ],
    "en": [
        ("help [command]", "this help, or a command's"),
        (
            "as [number|idNat|me]",
            "“Act as”: lists your own account and delegations, or "
            "chooses the account of your commands and messages",
        ),
        (
            "search <text> [--structures]",
            "directory (status online / active / away / inactive), numbered results",
        ),
        ("recent [number]", "your recent searches (runs the n-th again)"),
        ("fav [list|add|rm] [numbers|idNat]", "your favorites"),
        ("patients", "the active file list of the account you act as"),
        ("circle <number|id>", "a patient's care circle"),
        (
            'new [members] [--patient P] [--subject "…"] [-- message]',
            "starts a conversation; when something is missing the bot guides you step by step",
        ),
        ("cancel", "gives up the conversation being started"),
        ("team [number|name <message>]", "lists resource teams, or requests one"),
        ("members", "conversation room: the members and their status"),
        ("invite <member…>", "conversation room: adds members"),
        ("remove <member…>", "conversation room: removes members"),
        ("patient <number|id|none>", "conversation room: links or unlinks a patient"),
        ("notify <member>", "conversation room: notifies an inactive member by mail"),
    ],
}
_HELP_INDEX = {
    "help": 0,
    "as": 1,
    "search": 2,
    "recent": 3,
    "fav": 4,
    "patients": 5,
    "circle": 6,
    "new": 7,
    "cancel": 8,
    "team": 9,
    "members": 10,
    "invite": 11,
    "remove": 12,
    "patient": 13,
    "notify": 14,
}
HELP_INTRO = {
    "fr": "Commandes SPICO (préfixe « {prefix} » dans les salons de conversation, sans "
    "préfixe dans votre salon privé avec le bot) :",
    "en": "SPICO commands (prefix “{prefix}” in conversation rooms, none in your private "
    "room with the bot):",
}
HELP_MEMBERS = {
    "fr": "Participants : numéros de la dernière liste (« 1,3 », « 2-4 »), comptes Matrix "
    "(@nom:serveur), idNat (810000000001) ou adresses MSSanté.",
    "en": "Members: numbers of the last list (“1,3”, “2-4”), Matrix users (@name:server), "
    "idNats (810000000001) or MSSanté addresses.",
}


def help_text(language: str = "fr", prefix: str = "!spico", command: str | None = None) -> str:
    entries = HELP.get(language, HELP["fr"])
    if command is not None and command in _HELP_INDEX:
        usage, what = entries[_HELP_INDEX[command]]
        return f"{usage} — {what}\n{HELP_MEMBERS.get(language, HELP_MEMBERS['fr'])}"
    lines = [HELP_INTRO.get(language, HELP_INTRO["fr"]).format(prefix=prefix)]
    lines += [f"• {usage} — {what}" for usage, what in entries]
    lines.append(HELP_MEMBERS.get(language, HELP_MEMBERS["fr"]))
    return "\n".join(lines)
