"""Every text the Matrix world shows a user, in French (the source) and English.

Room names, topics and notices (``bridge.matrix.formatting``), kick reasons and patient spaces
(``bridge.matrix.sink``), and what the ``!spico`` commands answer (``bridge.matrix.commands``):
the code lays the lines out, the words are here. To add a text: add a ``Message`` below with
both languages and the same ``{placeholders}``, then call ``text(language, key, **values)``.
"""

from __future__ import annotations

from bridge.core.i18n import Catalog, Message

_MESSAGES = {
    # statuses (directory, topics, member lists)
    "status_online": Message(
        fr="en ligne",
        en="online",
    ),
    "status_active": Message(
        fr="actif",
        en="active",
    ),
    "status_absent": Message(
        fr="absent",
        en="away",
    ),
    "status_inactive": Message(
        fr="inactif",
        en="inactive",
    ),
    "status_unknown": Message(
        fr="statut inconnu",
        en="status unknown",
    ),
    # portal rooms: name, topic, messages
    "no_subject": Message(
        fr="(sans sujet)",
        en="(no subject)",
    ),
    "topic_subject": Message(
        fr="Sujet : {subject}",
        en="Subject : {subject}",
    ),
    "topic_patient": Message(
        fr="Patient : {tag}",
        en="Patient : {tag}",
    ),
    "topic_members": Message(
        fr="Participants : {people}",
        en="Members : {people}",
    ),
    "topic_footer": Message(
        fr="Conversation SPICO",
        en="SPICO conversation",
    ),
    "sent_by": Message(
        fr="{header} (par {name})",
        en="{header} (by {name})",
    ),
    "history_header": Message(
        fr="{header} · {sent:%d/%m/%Y à %H:%M} (UTC)",
        en="{header} · {sent:%Y-%m-%d %H:%M} (UTC)",
    ),
    "attachment_line": Message(
        fr="📎 Pièce jointe : {name}",
        en="📎 Attachment : {name}",
    ),
    "kick_reason": Message(
        fr="Ce salon reflète la conversation SPICO : seuls ses participants peuvent y être.",
        en="This room mirrors the SPICO conversation: only its members may be here.",
    ),
    # patient spaces
    "space_name": Message(
        fr="Patient [{tag}]",
        en="Patient [{tag}]",
    ),
    "space_name_untagged": Message(
        fr="Patient",
        en="Patient",
    ),
    "space_topic": Message(
        fr="Conversations SPICO de ce patient",
        en="SPICO conversations of this patient",
    ),
    # notices in portal rooms (what was not carried to SPICO)
    "notice_unmapped": Message(
        fr="⚠ Message non transmis à SPICO : votre compte Matrix n'est associé à aucun "
        "professionnel SPICO.",
        en="⚠ Not sent to SPICO: your Matrix account is not mapped to a SPICO professional.",
    ),
    "notice_not_member": Message(
        fr="⚠ Message non transmis à SPICO : vous n'êtes pas participant de cette conversation "
        "SPICO.",
        en="⚠ Not sent to SPICO: you are not a member of this SPICO conversation.",
    ),
    "notice_refused": Message(
        fr="⚠ Message refusé par SPICO : {reason}",
        en="⚠ SPICO refused this message: {reason}",
    ),
    "notice_edit": Message(
        fr="⚠ Modification non transmise : SPICO ne permet pas de modifier un message. Envoyez "
        "un nouveau message si besoin.",
        en="⚠ Edit not carried: SPICO messages cannot be edited. Send a new message.",
    ),
    "notice_redaction": Message(
        fr="⚠ Suppression non transmise : SPICO ne permet pas de supprimer un message.",
        en="⚠ Deletion not carried: SPICO messages cannot be deleted.",
    ),
    "notice_unsupported": Message(
        fr="⚠ Ce type de message n'est pas transmis à SPICO.",
        en="⚠ This kind of message is not carried to SPICO.",
    ),
    "notice_undecryptable": Message(
        fr="⚠ Message chiffré illisible par le pont : il n'a pas été transmis à SPICO. "
        "Renvoyez-le (la clé de chiffrement n'est pas parvenue au pont).",
        en="⚠ Encrypted message the bridge cannot read: not carried to SPICO. Please send it "
        "again (its key did not reach the bridge).",
    ),
    "notice_file_too_large": Message(
        fr="⚠ Fichier non transmis à SPICO : il dépasse {limit} (la limite des pièces jointes "
        "relayées). Déposez-le directement dans SPICO.",
        en="⚠ File not carried to SPICO: it is over {limit} (the limit of relayed "
        "attachments). Put it in SPICO directly.",
    ),
    "notice_delegation_revoked": Message(
        fr="⚠ Message non transmis à SPICO : votre délégation pour agir au nom de {name} a été "
        "retirée dans SPICO. Vous agissez de nouveau en votre nom propre : renvoyez le message "
        "s'il doit partir à votre nom.",
        en="⚠ Not sent to SPICO: your delegation to act as {name} was withdrawn in SPICO. You "
        "act in your own name again: send the message again if it should go out in your name.",
    ),
    "attachment_kept_in_spico": Message(
        fr="📎 Pièce jointe « {name} » ({size}) non relayée ici : elle dépasse {limit}. Elle "
        "reste consultable dans SPICO.",
        en="📎 Attachment “{name}” ({size}) not relayed here: it is over {limit}. It stays "
        "available in SPICO.",
    ),
    "size_megabytes": Message(
        fr="{size:.1f} Mo",
        en="{size:.1f} MB",
    ),
    "notice_not_handled": Message(
        fr="⚠ Le pont n'a pas pu traiter ce message (erreur interne, signalée à "
        "l'administrateur) : rien n'a été transmis à SPICO.",
        en="⚠ The bridge could not process this message (an internal error, logged for the "
        "administrator): nothing was carried to SPICO.",
    ),
    # commands: general
    "acting": Message(
        fr="Agir en tant que : {name}",
        en="Acting as: {name}",
    ),
    "unknown": Message(
        fr="Commande inconnue : « {word} ». Tapez « {prefix}aide ».",
        en="Unknown command: “{word}”. Type “{prefix}help”.",
    ),
    "bad_option": Message(
        fr="Option inconnue : {option}. Tapez « {prefix}aide {command} ».",
        en="Unknown option: {option}. Type “{prefix}help {command}”.",
    ),
    "unmapped": Message(
        fr="Votre compte Matrix n'est associé à aucun professionnel SPICO : les commandes ne "
        "vous sont pas ouvertes. Demandez à l'administrateur du pont.",
        en="Your Matrix account is not mapped to a SPICO professional: commands are not open to "
        "you. Ask the bridge's administrator.",
    ),
    "portal_only": Message(
        fr="Cette commande agit sur une conversation : tapez-la dans le salon de la "
        "conversation (« {prefix}{command} … »).",
        en="This command acts on a conversation: type it in the conversation's room "
        "(“{prefix}{command} …”).",
    ),
    "private_elsewhere": Message(
        fr="Par confidentialité, la réponse est dans votre salon de gestion avec le bot.",
        en="For confidentiality, the answer is in your management room with the bot.",
    ),
    "private_no_room": Message(
        fr="Par confidentialité, cette réponse ne s'affiche pas dans un salon partagé : invitez "
        "le bot ({bot}) dans un salon privé (message direct) et tapez-y la commande.",
        en="For confidentiality, this answer is not shown in a shared room: invite the bot "
        "({bot}) to a private room (direct message) and type the command there.",
    ),
    "management_only": Message(
        fr="Cette commande se tape dans votre salon de gestion avec le bot ({bot}) : « {command} "
        "… ».",
        en="Type this command in your management room with the bot ({bot}): “{command} …”.",
    ),
    "private_refused": Message(
        fr="Par confidentialité, la réponse n'a pas été envoyée : votre salon de gestion n'est "
        "plus privé (il doit ne réunir que vous et le bot, sur invitation, sans historique "
        "public). Je le quitte ; invitez-moi dans un nouveau salon privé.",
        en="For confidentiality, the answer was not sent: your management room is no longer "
        "private (it must hold only you and the bot, by invitation, with no public history). I "
        "am leaving it; invite me to a new private room.",
    ),
    "delegation_revoked": Message(
        fr="Votre délégation pour agir au nom de {name} a été retirée dans SPICO : vous agissez "
        "de nouveau en votre nom propre. La commande n'a pas été exécutée ; retapez-la si elle "
        "doit l'être à votre nom.",
        en="Your delegation to act as {name} was withdrawn in SPICO: you act in your own name "
        "again. The command was not run; type it again if it should run in your name.",
    ),
    "delegation_revoked_noted": Message(
        fr="Votre délégation pour agir au nom de {name} a été retirée dans SPICO : vous agissez "
        "de nouveau en votre nom propre.",
        en="Your delegation to act as {name} was withdrawn in SPICO: you act in your own name "
        "again.",
    ),
    "bad_id": Message(
        fr="Ce n'est pas un identifiant {kind} valide : rien n'a été demandé à SPICO. Utilisez "
        "les numéros des listes ou les identifiants affichés.",
        en="That is not a valid {kind} id: nothing was asked of SPICO. Use the numbers of the "
        "lists or the ids shown.",
    ),
    "bad_answer": Message(
        fr="SPICO a répondu de façon inattendue : rien n'a été fait. Réessayez plus tard ; si "
        "cela persiste, prévenez l'administrateur du pont.",
        en="SPICO answered unexpectedly: nothing was done. Try again later; if it goes on, tell "
        "the bridge's administrator.",
    ),
    "id_kind_professional": Message(
        fr="de professionnel (idNat)",
        en="professional (idNat)",
    ),
    "id_kind_structure": Message(
        fr="de structure",
        en="structure",
    ),
    "id_kind_directory": Message(
        fr="d'annuaire (idNat ou structure)",
        en="directory (idNat or structure)",
    ),
    "id_kind_patient": Message(
        fr="de patient",
        en="patient",
    ),
    "id_kind_conversation": Message(
        fr="de conversation",
        en="conversation",
    ),
    "id_kind_attachment": Message(
        fr="de pièce jointe",
        en="attachment",
    ),
    "id_kind_team": Message(
        fr="d'équipe",
        en="team",
    ),
    "circle_context_used": Message(
        fr="Patient repris du cercle de soins consulté à {at:%H:%M} : {patient}",
        en="Patient taken from the care circle you looked at at {at:%H:%M}: {patient}",
    ),
    "welcome": Message(
        fr="Bonjour ! Je suis le pont SPICO. Dans ce salon privé, tapez les commandes sans "
        "préfixe (par exemple « aide », « recherche dupont », « nouveau »).",
        en="Hello! I am the SPICO bridge. In this private room, type commands without a prefix "
        "(for instance “help”, “search dupont”, “new”).",
    ),
    "no_longer_private": Message(
        fr="Ce salon n'est plus privé : je n'y réponds plus. Invitez-moi dans un salon où vous "
        "êtes seul avec moi.",
        en="This room is no longer private: I stop answering here. Invite me to a room where "
        "you are alone with me.",
    ),
    # commands: as
    "accounts_title": Message(
        fr="Comptes au nom desquels vous pouvez agir :",
        en="Accounts you may act as:",
    ),
    "accounts_hint": Message(
        fr="Choisissez avec « as <numéro> » (ou « agir <numéro> »).",
        en="Choose with “as <number>”.",
    ),
    "acting_set": Message(
        fr="C'est noté : vos commandes et vos messages dans les salons SPICO partent désormais "
        "au nom de {name}.",
        en="Noted: your commands and your messages in SPICO rooms now go out as {name}.",
    ),
    "acting_self": Message(
        fr="C'est noté : vous agissez en votre nom propre.",
        en="Noted: you act as yourself.",
    ),
    "no_delegation_for": Message(
        fr="Vous n'avez pas de délégation pour agir au nom de {target}. Tapez « as » pour voir "
        "les comptes possibles.",
        en="You hold no delegation to act as {target}. Type “as” to see the accounts you may "
        "act as.",
    ),
    # commands: directory
    "search_usage": Message(
        fr="Précisez ce que vous cherchez : « recherche <nom, ville, profession, RPPS…> » "
        "(ajoutez « --structures » pour les établissements).",
        en="Say what you are looking for: “search <name, city, profession, RPPS…>” (add "
        "“--structures” for organisations).",
    ),
    "search_title": Message(
        fr="Annuaire — « {q} » :",
        en="Directory — “{q}”:",
    ),
    "search_structures_title": Message(
        fr="Annuaire des structures — « {q} » :",
        en="Organisations — “{q}”:",
    ),
    "search_none": Message(
        fr="Aucun résultat pour « {q} ».",
        en="No result for “{q}”.",
    ),
    "search_more": Message(
        fr="(les {count} premiers résultats ; précisez la recherche pour en voir d'autres)",
        en="(the first {count} results; refine the search to see others)",
    ),
    "numbers_hint": Message(
        fr="Utilisez les numéros dans « nouveau », « invite », « fav add » (par exemple « 1,3 »).",
        en="Use the numbers in “new”, “invite”, “fav add” (for instance “1,3”).",
    ),
    "no_account": Message(
        fr="sans compte SPICO",
        en="no SPICO account",
    ),
    "recent_title": Message(
        fr="Recherches récentes :",
        en="Recent searches:",
    ),
    "recent_none": Message(
        fr="Aucune recherche récente.",
        en="No recent search.",
    ),
    "recent_hint": Message(
        fr="« récentes <numéro> » relance une recherche.",
        en="“recent <number>” runs a search again.",
    ),
    "recent_line": Message(
        fr="{q} — {at:%d/%m/%Y %H:%M}",
        en="{q} — {at:%d/%m/%Y %H:%M}",
    ),
    "recent_line_structures": Message(
        fr="{q} (structures) — {at:%d/%m/%Y %H:%M}",
        en="{q} (structures) — {at:%d/%m/%Y %H:%M}",
    ),
    "fav_title": Message(
        fr="Favoris :",
        en="Favorites:",
    ),
    "fav_none": Message(
        fr="Aucun favori. Ajoutez-en avec « fav add <numéro|idNat> » après une recherche.",
        en="No favorites. Add some with “fav add <number|idNat>” after a search.",
    ),
    "fav_added": Message(
        fr="Ajouté aux favoris : {names}.",
        en="Added to favorites: {names}.",
    ),
    "fav_removed": Message(
        fr="Retiré des favoris : {names}.",
        en="Removed from favorites: {names}.",
    ),
    "fav_usage": Message(
        fr="« fav list », « fav add <numéro|idNat> » ou « fav rm <numéro|idNat> ».",
        en="“fav list”, “fav add <number|idNat>” or “fav rm <number|idNat>”.",
    ),
    # commands: patients
    "patients_title": Message(
        fr="File active de {name} :",
        en="Active file list of {name}:",
    ),
    "patients_none": Message(
        fr="La file active de {name} est vide.",
        en="The active file list of {name} is empty.",
    ),
    "patients_hint": Message(
        fr="« cercle <numéro> » montre le cercle de soins d'un patient.",
        en="“circle <number>” shows a patient's care circle.",
    ),
    "born": Message(
        fr="né(e) le {date}",
        en="born {date}",
    ),
    "birth_date": Message(
        fr="{day}/{month}/{year}",
        en="{year}-{month}-{day}",
    ),
    "circle_title": Message(
        fr="Cercle de soins de {patient} :",
        en="Care circle of {patient}:",
    ),
    "circle_none": Message(
        fr="Le cercle de soins de {patient} est vide.",
        en="The care circle of {patient} is empty.",
    ),
    "circle_hint": Message(
        fr="« nouveau » démarre une conversation sur ce patient : le patient est prérempli et "
        "vous choisissez les participants par leur numéro.",
        en="“new” starts a conversation about this patient: the patient is pre-filled and you "
        "pick the members by number.",
    ),
    "circle_usage": Message(
        fr="Précisez le patient : « cercle <numéro> » (après « patients ») ou « cercle "
        "<identifiant patient> ».",
        en="Name the patient: “circle <number>” (after “patients”) or “circle <patient id>”.",
    ),
    # commands: teams
    "teams_title": Message(
        fr="Équipes ressources :",
        en="Resource teams:",
    ),
    "teams_none": Message(
        fr="Aucune équipe ressource.",
        en="No resource team.",
    ),
    "teams_hint": Message(
        fr="« équipe <numéro|nom> <message> » sollicite une équipe : une conversation est créée "
        "avec elle.",
        en="“team <number|name> <message>” requests a team: a conversation with it is created.",
    ),
    "team_usage": Message(
        fr="Écrivez le message de la sollicitation : « équipe <numéro|nom> <message> ».",
        en="Write the request: “team <number|name> <message>”.",
    ),
    "team_unknown": Message(
        fr="Aucune équipe ressource ne correspond à « {ref} ». Tapez « équipe ».",
        en="No resource team matches “{ref}”. Type “team”.",
    ),
    "team_ambiguous": Message(
        fr="Plusieurs équipes correspondent à « {ref} » : {names}. Précisez (numéro ou "
        "identifiant).",
        en="Several teams match “{ref}”: {names}. Be more precise (number or id).",
    ),
    "team_requested": Message(
        fr="Équipe sollicitée : {team}. La conversation « {subject} » est créée dans SPICO ; "
        "son salon Matrix va apparaître.",
        en="Team requested: {team}. The conversation “{subject}” is created in SPICO; its "
        "Matrix room will appear.",
    ),
    # commands: new
    "new_created": Message(
        fr="Conversation créée dans SPICO : « {subject} » ({conversation}).",
        en="Conversation created in SPICO: “{subject}” ({conversation}).",
    ),
    "new_room": Message(
        fr="Son salon Matrix va apparaître ; y seront invités : {users}.",
        en="Its Matrix room will appear; invited: {users}.",
    ),
    "new_no_room": Message(
        fr="Aucun de ses participants n'a de compte Matrix associé : elle reste dans SPICO (et "
        "par courriel pour les participants concernés).",
        en="None of its members has a mapped Matrix account: it stays in SPICO (and mail for "
        "the members concerned).",
    ),
    "new_members": Message(
        fr="Participants : {names}",
        en="Members: {names}",
    ),
    "new_patient": Message(
        fr="Patient : {patient}",
        en="Patient: {patient}",
    ),
    "new_no_patient": Message(
        fr="Patient : aucun",
        en="Patient: none",
    ),
    "new_subject": Message(
        fr="Sujet : {subject}",
        en="Subject: {subject}",
    ),
    "new_message": Message(
        fr="Premier message : {message}",
        en="First message: {message}",
    ),
    "ask_members": Message(
        fr="Nouvelle conversation — qui y participe ? Donnez des numéros de la dernière liste "
        "(« 1,3 »), des comptes Matrix (@nom:serveur), des idNat ou des adresses MSSanté. "
        "Vous pouvez aussi taper « recherche … » ou « fav » d'abord. « annuler » pour "
        "abandonner.",
        en="New conversation — who takes part? Give numbers from the last list (“1,3”), Matrix "
        "users (@name:server), idNats or MSSanté addresses. You may type “search …” or “fav” "
        "first. “cancel” to give up.",
    ),
    "ask_members_circle": Message(
        fr="Nouvelle conversation sur {patient} — qui y participe ? Répondez par les numéros du "
        "cercle de soins (« 1,3 ») ou d'autres participants (@nom:serveur, idNat, adresse "
        "MSSanté). « annuler » pour abandonner.",
        en="New conversation about {patient} — who takes part? Answer with care circle numbers "
        "(“1,3”) or other members (@name:server, idNat, MSSanté address). “cancel” to give "
        "up.",
    ),
    "ask_patient": Message(
        fr="Quel patient ? Un numéro de « patients », un identifiant patient, ou « aucun ».",
        en="Which patient? A number from “patients”, a patient id, or “none”.",
    ),
    "ask_subject": Message(
        fr="Quel est le sujet de la conversation ? (obligatoire)",
        en="What is the conversation's subject? (required)",
    ),
    "ask_message": Message(
        fr="Écrivez le premier message.",
        en="Write the first message.",
    ),
    "ask_confirm": Message(
        fr="Répondez « oui » pour créer la conversation, « annuler » pour abandonner.",
        en="Answer “yes” to create the conversation, “cancel” to give up.",
    ),
    "summary_title": Message(
        fr="Récapitulatif :",
        en="Summary:",
    ),
    "dialogue_cancelled": Message(
        fr="Nouvelle conversation abandonnée.",
        en="New conversation cancelled.",
    ),
    "nothing_to_cancel": Message(
        fr="Rien à annuler.",
        en="Nothing to cancel.",
    ),
    "dialogue_elsewhere": Message(
        fr="La suite de « nouveau » se fait dans votre salon de gestion avec le bot.",
        en="“new” goes on in your management room with the bot.",
    ),
    "dialogue_no_room": Message(
        fr="Il manque des éléments (participants, sujet ou premier message). Donnez tout sur "
        'une ligne : « {prefix}nouveau 1,3 --sujet "Sujet" -- premier message », ou invitez '
        "le bot ({bot}) dans un salon privé pour être guidé.",
        en="Something is missing (members, subject or first message). Give it all on one line: "
        '“{prefix}new 1,3 --subject "Subject" -- first message”, or invite the bot ({bot}) '
        "to a private room to be guided.",
    ),
    "subject_missing": Message(
        fr="Le sujet est obligatoire : écrivez-le.",
        en="The subject is required: write it.",
    ),
    "message_missing": Message(
        fr="Le premier message ne peut pas être vide : écrivez-le.",
        en="The first message cannot be empty: write it.",
    ),
    "members_missing": Message(
        fr="Indiquez au moins un participant.",
        en="Name at least one member.",
    ),
    "confirm_expected": Message(
        fr="Répondez « oui » pour créer la conversation ou « annuler ».",
        en="Answer “yes” to create the conversation or “cancel”.",
    ),
    "subject_too_long": Message(
        fr="Le sujet est trop long ({length} caractères, 200 au plus).",
        en="The subject is too long ({length} characters, 200 at most).",
    ),
    # commands: conversation changes
    "invited": Message(
        fr="Ajouté(s) à la conversation dans SPICO : {names}. Le salon suit.",
        en="Added to the conversation in SPICO: {names}. The room follows.",
    ),
    "removed": Message(
        fr="Retiré(s) de la conversation dans SPICO : {names}. Le salon suit.",
        en="Removed from the conversation in SPICO: {names}. The room follows.",
    ),
    "patient_linked": Message(
        fr="Patient rattaché à la conversation dans SPICO : {patient}.",
        en="Patient linked to the conversation in SPICO: {patient}.",
    ),
    "patient_unlinked": Message(
        fr="La conversation n'est plus rattachée à un patient.",
        en="The conversation is no longer linked to a patient.",
    ),
    "patient_usage": Message(
        fr="« patient <numéro|identifiant> » rattache un patient de votre file active ; « "
        "patient aucun » le détache.",
        en="“patient <number|id>” links a patient of your active file list; “patient none” "
        "unlinks it.",
    ),
    "member_usage": Message(
        fr="Précisez le participant : numéro de la dernière liste, @nom:serveur, idNat ou "
        "adresse MSSanté.",
        en="Name the member: number of the last list, @name:server, idNat or MSSanté address.",
    ),
    "inactive_note": Message(
        fr="{name} est {status} dans SPICO : il/elle sera prévenu(e) par courriel.",
        en="{name} is {status} in SPICO: they will be notified by mail.",
    ),
    "inactive_note_no_mail": Message(
        fr="{name} est {status} dans SPICO et le pont n'envoie pas de courriel : il/elle verra "
        "la conversation à sa prochaine connexion.",
        en="{name} is {status} in SPICO and this bridge sends no mail: they will see the "
        "conversation when they next log in.",
    ),
    # commands: notify
    "notify_queued": Message(
        fr="Notification par courriel envoyée à {name} ({address}) : il/elle peut répondre au "
        "courriel.",
        en="Mail notification sent to {name} ({address}): they can answer the mail.",
    ),
    "notify_no_mail": Message(
        fr="La messagerie sécurisée n'est pas activée sur ce pont : impossible de prévenir "
        "{name} par courriel.",
        en="Secure mail is not enabled on this bridge: {name} cannot be notified by mail.",
    ),
    "notify_disabled": Message(
        fr="Les notifications par courriel sont désactivées sur ce pont (notifications.enabled).",
        en="Mail notifications are disabled on this bridge (notifications.enabled).",
    ),
    "notify_active": Message(
        fr="{name} est {status} dans SPICO : il/elle voit la conversation, pas besoin de "
        "notification.",
        en="{name} is {status} in SPICO: they see the conversation, no notification needed.",
    ),
    "notify_not_member": Message(
        fr="{name} ne participe pas à cette conversation.",
        en="{name} is not a member of this conversation.",
    ),
    "notify_no_address": Message(
        fr="{name} n'a pas d'adresse MSSanté connue : pas de notification possible.",
        en="{name} has no known MSSanté address: no notification possible.",
    ),
    "notify_suppressed": Message(
        fr="Pas de nouvelle notification pour {name} : une notification lui a été envoyée le "
        "{last} et il n'en part qu'une par conversation toutes les {period}. La prochaine "
        "est possible à partir du {next} ; les messages d'ici là lui seront envoyés en "
        "récapitulatif.",
        en="No new notification for {name}: one was sent on {last} and only one goes per "
        "conversation every {period}. The next is possible from {next}; messages until then "
        "will reach them in a digest.",
    ),
    "notify_already": Message(
        fr="{name} est déjà prévenu(e) du dernier message de cette conversation (ou le sera "
        "dans le prochain récapitulatif).",
        en="{name} is already notified of this conversation's latest message (or will be in the "
        "next digest).",
    ),
    "notify_no_message": Message(
        fr="Aucun message de cette conversation n'est encore passé par le pont : rien à "
        "notifier pour l'instant.",
        en="No message of this conversation went through the bridge yet: nothing to notify "
        "about for now.",
    ),
    "when": Message(
        fr="{moment:%d/%m/%Y} à {moment:%H:%M}",
        en="{moment:%Y-%m-%d} at {moment:%H:%M}",
    ),
    "period_24_hours": Message(
        fr="24 heures",
        en="24 hours",
    ),
    "period_days": Message(
        fr="{days} jours",
        en="{days} days",
    ),
    "period_hour": Message(
        fr="{hours} heure",
        en="{hours} hour",
    ),
    "period_hours": Message(
        fr="{hours} heures",
        en="{hours} hours",
    ),
    "period_minutes": Message(
        fr="{minutes} minutes",
        en="{minutes} minutes",
    ),
    # commands: members
    "members_title": Message(
        fr="Participants de la conversation SPICO :",
        en="Members of the SPICO conversation:",
    ),
    "member_status": Message(
        fr="{member} : {status}",
        en="{member} : {status}",
    ),
    # commands: errors
    "out_of_range": Message(
        fr="Le numéro {number} n'existe pas : la dernière liste {what} compte {count} élément(s).",
        en="There is no number {number}: the last {what} list has {count} item(s).",
    ),
    "no_list": Message(
        fr="Pas de liste {what} à laquelle se référer : tapez d'abord « {command} ».",
        en="No {what} list to refer to: type “{command}” first.",
    ),
    "matrix_unmapped": Message(
        fr="{user} n'est associé à aucun professionnel SPICO.",
        en="{user} is not mapped to a SPICO professional.",
    ),
    "unknown_professional": Message(
        fr="Aucun professionnel n'a l'identifiant {ref} dans l'annuaire.",
        en="No professional has the id {ref} in the directory.",
    ),
    "unknown_address": Message(
        fr="Aucun professionnel n'a l'adresse MSSanté {ref} dans l'annuaire.",
        en="No professional has the MSSanté address {ref} in the directory.",
    ),
    "structure_member": Message(
        fr="{name} est une structure : une conversation réunit des professionnels. Choisissez "
        "un professionnel.",
        en="{name} is an organisation: conversations are between professionals. Choose a "
        "professional.",
    ),
    "unknown_patient": Message(
        fr="Patient inconnu : aucun dossier patient « {ref} ».",
        en="Unknown patient: no patient file “{ref}”.",
    ),
    "unavailable": Message(
        fr="SPICO ne répond pas pour le moment : réessayez dans quelques minutes.",
        en="SPICO is not answering right now: try again in a few minutes.",
    ),
    "refused": Message(
        fr="SPICO a refusé : {message}",
        en="SPICO refused: {message}",
    ),
    "no_delegation": Message(
        fr="Vous n'avez pas (ou plus) de délégation pour agir au nom de ce compte. Tapez « as » "
        "pour choisir un compte.",
        en="You hold no (or no longer a) delegation to act as this account. Type “as” to choose "
        "an account.",
    ),
    "no_patient_access": Message(
        fr="Vous n'avez pas accès à ce patient : le compte au nom duquel vous agissez n'est ni "
        "dans son cercle de soins ni dans sa file active.",
        en="You have no access to this patient: the account you act as is neither in their care "
        "circle nor has them in its active file list.",
    ),
    "not_a_member": Message(
        fr="Le compte au nom duquel vous agissez ne participe pas à cette conversation.",
        en="The account you act as is not a member of this conversation.",
    ),
    "unknown_member": Message(
        fr="Un des participants n'existe pas dans l'annuaire SPICO.",
        en="One of the members does not exist in the SPICO directory.",
    ),
    "last_member": Message(
        fr="Le dernier participant ne peut pas quitter la conversation.",
        en="The last member cannot leave the conversation.",
    ),
    "refused_no_account": Message(
        fr="Ce professionnel n'a pas de compte SPICO.",
        en="This professional has no SPICO account.",
    ),
    "not_found": Message(
        fr="SPICO ne trouve pas ce que vous demandez ({message}).",
        en="SPICO cannot find what you asked for ({message}).",
    ),
    "bad_request": Message(
        fr="SPICO a refusé la demande : {message}",
        en="SPICO refused the request: {message}",
    ),
    # commands: the numbered lists, in “out of range” and “type … first” sentences
    "list_directory": Message(
        fr="de professionnels",
        en="directory",
    ),
    "list_patients": Message(
        fr="de patients",
        en="patients",
    ),
    "list_accounts": Message(
        fr="de comptes",
        en="accounts",
    ),
    "list_teams": Message(
        fr="d'équipes",
        en="teams",
    ),
    "list_recent": Message(
        fr="de recherches",
        en="searches",
    ),
    "list_command_directory": Message(
        fr="recherche …",
        en="search …",
    ),
    "list_command_patients": Message(
        fr="patients",
        en="patients",
    ),
    "list_command_accounts": Message(
        fr="as",
        en="as",
    ),
    "list_command_teams": Message(
        fr="équipe",
        en="team",
    ),
    "list_command_recent": Message(
        fr="récentes",
        en="recent",
    ),
    # commands: help (one usage and one description per command, in HELP_COMMANDS order)
    "help_intro": Message(
        fr="Commandes SPICO (préfixe « {prefix} » dans les salons de conversation, sans préfixe "
        "dans votre salon privé avec le bot) :",
        en="SPICO commands (prefix “{prefix}” in conversation rooms, none in your private room "
        "with the bot):",
    ),
    "help_members": Message(
        fr="Participants : numéros de la dernière liste (« 1,3 », « 2-4 »), comptes Matrix "
        "(@nom:serveur), idNat (810000000001) ou adresses MSSanté.",
        en="Members: numbers of the last list (“1,3”, “2-4”), Matrix users (@name:server), "
        "idNats (810000000001) or MSSanté addresses.",
    ),
    "help_help_usage": Message(
        fr="aide [commande]",
        en="help [command]",
    ),
    "help_help_what": Message(
        fr="cette aide, ou celle d'une commande",
        en="this help, or a command's",
    ),
    "help_as_usage": Message(
        fr="as [numéro|idNat|moi]",
        en="as [number|idNat|me]",
    ),
    "help_as_what": Message(
        fr="« Agir en tant que » : liste vos comptes et délégations, ou choisit le compte de "
        "vos commandes et messages",
        en="“Act as”: lists your own account and delegations, or chooses the account of your "
        "commands and messages",
    ),
    "help_search_usage": Message(
        fr="recherche <texte> [--structures]",
        en="search <text> [--structures]",
    ),
    "help_search_what": Message(
        fr="annuaire (statut en ligne / actif / absent / inactif), résultats numérotés",
        en="directory (status online / active / away / inactive), numbered results",
    ),
    "help_recent_usage": Message(
        fr="récentes [numéro]",
        en="recent [number]",
    ),
    "help_recent_what": Message(
        fr="vos recherches récentes (relance la n-ième)",
        en="your recent searches (runs the n-th again)",
    ),
    "help_fav_usage": Message(
        fr="fav [list|add|rm] [numéros|idNat]",
        en="fav [list|add|rm] [numbers|idNat]",
    ),
    "help_fav_what": Message(
        fr="vos favoris",
        en="your favorites",
    ),
    "help_patients_usage": Message(
        fr="patients",
        en="patients",
    ),
    "help_patients_what": Message(
        fr="la file active du compte au nom duquel vous agissez",
        en="the active file list of the account you act as",
    ),
    "help_circle_usage": Message(
        fr="cercle <numéro|identifiant>",
        en="circle <number|id>",
    ),
    "help_circle_what": Message(
        fr="le cercle de soins d'un patient",
        en="a patient's care circle",
    ),
    "help_new_usage": Message(
        fr='nouveau [participants] [--patient P] [--sujet "…"] [-- message]',
        en='new [members] [--patient P] [--subject "…"] [-- message]',
    ),
    "help_new_what": Message(
        fr="démarre une conversation ; sans tout donner, le bot vous guide pas à pas",
        en="starts a conversation; when something is missing the bot guides you step by step",
    ),
    "help_cancel_usage": Message(
        fr="annuler",
        en="cancel",
    ),
    "help_cancel_what": Message(
        fr="abandonne la conversation en cours de création",
        en="gives up the conversation being started",
    ),
    "help_team_usage": Message(
        fr="équipe [numéro|nom <message>]",
        en="team [number|name <message>]",
    ),
    "help_team_what": Message(
        fr="liste les équipes ressources, ou en sollicite une",
        en="lists resource teams, or requests one",
    ),
    "help_members_usage": Message(
        fr="membres",
        en="members",
    ),
    "help_members_what": Message(
        fr="salon de conversation : les participants et leur statut",
        en="conversation room: the members and their status",
    ),
    "help_invite_usage": Message(
        fr="inviter <participant…>",
        en="invite <member…>",
    ),
    "help_invite_what": Message(
        fr="salon de conversation : ajoute des participants",
        en="conversation room: adds members",
    ),
    "help_remove_usage": Message(
        fr="retirer <participant…>",
        en="remove <member…>",
    ),
    "help_remove_what": Message(
        fr="salon de conversation : retire des participants",
        en="conversation room: removes members",
    ),
    "help_patient_usage": Message(
        fr="patient <numéro|identifiant|aucun>",
        en="patient <number|id|none>",
    ),
    "help_patient_what": Message(
        fr="salon de conversation : rattache ou détache un patient",
        en="conversation room: links or unlinks a patient",
    ),
    "help_notify_usage": Message(
        fr="prévenir <participant>",
        en="notify <member>",
    ),
    "help_notify_what": Message(
        fr="salon de conversation : prévient un participant inactif par courriel",
        en="conversation room: notifies an inactive member by mail",
    ),
    # self-service links (bridge.matrix.commands.groups.link)
    "unmapped_self_service": Message(
        fr="Votre compte Matrix n'est lié à aucun professionnel SPICO. Pour le lier, écrivez "
        "ici « lier » suivi de votre RPPS, de votre idNat ou de votre adresse MSSanté : un code "
        "vous est envoyé à l'adresse MSSanté que l'annuaire SPICO connaît pour vous, puis tapez "
        "« code » suivi de ce code.",
        en="Your Matrix account is not linked to a SPICO professional. To link it, write here "
        "“link” followed by your RPPS, your idNat or your MSSanté address: a code is sent to the "
        "MSSanté address the SPICO directory holds for you; then type “code” followed by it.",
    ),
    "welcome_unmapped": Message(
        fr="Bonjour ! Je suis le pont SPICO. Votre compte Matrix n'est encore lié à aucun "
        "professionnel : écrivez « lier » suivi de votre RPPS ou de votre adresse MSSanté "
        "(par exemple « lier 10001234567 »), je vous enverrai un code par messagerie sécurisée.",
        en="Hello! I am the SPICO bridge. Your Matrix account is not linked to a professional "
        "yet: write “link” followed by your RPPS or your MSSanté address (for instance “link "
        "10001234567”) and I will send you a code by secure mail.",
    ),
    "link_off": Message(
        fr="La liaison de comptes en libre-service n'est pas ouverte sur ce pont : demandez à "
        "son administrateur.",
        en="Self-service account linking is not open on this bridge: ask its administrator.",
    ),
    "link_server": Message(
        fr="Les comptes du serveur {server} ne peuvent pas être liés sur ce pont.",
        en="Accounts of the server {server} cannot be linked on this bridge.",
    ),
    "link_usage": Message(
        fr="Usage : lier <RPPS | idNat | adresse MSSanté>",
        en="Usage: link <RPPS | idNat | MSSanté address>",
    ),
    "link_unknown": Message(
        fr="L'annuaire SPICO ne connaît aucun professionnel « {ref} ».",
        en="The SPICO directory knows no professional “{ref}”.",
    ),
    "link_no_address": Message(
        fr="L'annuaire SPICO n'a pas d'adresse MSSanté pour {name} : aucun code ne peut être "
        "envoyé. Demandez à l'administrateur du pont.",
        en="The SPICO directory has no MSSanté address for {name}: no code can be sent. Ask "
        "the bridge's administrator.",
    ),
    "link_pinned": Message(
        fr="Le compte Matrix de {name} est fixé par l'administrateur du pont : demandez-lui.",
        en="{name}'s Matrix account is set by the bridge's administrator: ask them.",
    ),
    "link_user_pinned": Message(
        fr="Votre compte Matrix est déjà associé par l'administrateur du pont : demandez-lui.",
        en="Your Matrix account is already mapped by the bridge's administrator: ask them.",
    ),
    "link_already_yours": Message(
        fr="Votre compte Matrix est déjà lié à {name}.",
        en="Your Matrix account is already linked to {name}.",
    ),
    "link_user_linked": Message(
        fr="Votre compte Matrix est déjà lié à un autre professionnel : tapez d'abord « délier ».",
        en="Your Matrix account is already linked to another professional: type “unlink” first.",
    ),
    "link_taken": Message(
        fr="{name} a déjà un compte Matrix lié : il doit d'abord être délié (« délier » depuis "
        "ce compte).",
        en="{name} already has a linked Matrix account: it must be unlinked first (“unlink” "
        "from that account).",
    ),
    "link_rate_limited": Message(
        fr="Trop de codes demandés dans l'heure : réessayez plus tard.",
        en="Too many codes asked for within the hour: try again later.",
    ),
    "link_code_sent": Message(
        fr="Un code a été envoyé à l'adresse MSSanté de {name} dans l'annuaire SPICO "
        "({address}). Tapez ici « code » suivi de ce code, dans les {minutes} minutes.",
        en="A code was sent to {name}'s MSSanté address in the SPICO directory ({address}). "
        "Type here “code” followed by it, within {minutes} minutes.",
    ),
    "code_usage": Message(
        fr="Usage : code <le code reçu par courriel>",
        en="Usage: code <the code you received by mail>",
    ),
    "code_none": Message(
        fr="Aucun code en attente : demandez-en un avec « lier ».",
        en="No code is waiting: ask for one with “link”.",
    ),
    "code_expired": Message(
        fr="Ce code a expiré : demandez-en un nouveau avec « lier ».",
        en="This code has expired: ask for a new one with “link”.",
    ),
    "code_wrong": Message(
        fr="Code incorrect. Essais restants : {left}.",
        en="Wrong code. Tries left: {left}.",
    ),
    "code_exhausted": Message(
        fr="Code incorrect, et c'était le dernier essai : demandez un nouveau code avec « lier ».",
        en="Wrong code, and that was the last try: ask for a new code with “link”.",
    ),
    "linked": Message(
        fr="Votre compte Matrix est lié à {name}. Vous êtes invité dans les salons de ses "
        "conversations ({count}) ; ce salon est votre salon de gestion (tapez « aide »).",
        en="Your Matrix account is linked to {name}. You are invited to the rooms of their "
        "conversations ({count}); this room is your management room (type “help”).",
    ),
    "unlinked": Message(
        fr="Votre compte Matrix n'est plus lié : vous avez quitté les salons des conversations "
        "({count}).",
        en="Your Matrix account is no longer linked: you were removed from the conversations' "
        "rooms ({count}).",
    ),
    "unlink_pinned": Message(
        fr="Votre compte Matrix est associé par l'administrateur du pont : lui seul peut le "
        "délier.",
        en="Your Matrix account is mapped by the bridge's administrator: only they can unlink it.",
    ),
    "unlink_none": Message(
        fr="Votre compte Matrix n'est lié à aucun professionnel.",
        en="Your Matrix account is not linked to any professional.",
    ),
    "help_link_usage": Message(
        fr="lier <RPPS | idNat | adresse MSSanté>",
        en="link <RPPS | idNat | MSSanté address>",
    ),
    "help_link_what": Message(
        fr="salon de gestion : lie votre compte Matrix (code envoyé à votre adresse MSSanté)",
        en="management room: links your Matrix account (code sent to your MSSanté address)",
    ),
    "help_code_usage": Message(
        fr="code <code>",
        en="code <code>",
    ),
    "help_code_what": Message(
        fr="salon de gestion : confirme la liaison avec le code reçu par courriel",
        en="management room: confirms the link with the code received by mail",
    ),
    "help_unlink_usage": Message(
        fr="délier",
        en="unlink",
    ),
    "help_unlink_what": Message(
        fr="salon de gestion : délie votre compte Matrix (vous quittez les salons)",
        en="management room: unlinks your Matrix account (you leave the rooms)",
    ),
    # courriel / mail (bridge.matrix.commands.groups.mail)
    "mail_off": Message(
        fr="Ce pont n'envoie pas de courriel.",
        en="This bridge sends no mail.",
    ),
    "mail_usage": Message(
        fr="Usage : courriel [tout | auto] ; dans le salon d'une conversation : courriel "
        "[suivre | stop | auto]",
        en="Usage: mail [all | auto]; in a conversation's room: mail [follow | stop | auto]",
    ),
    "mail_pinned": Message(
        fr="Votre mode de réception est fixé par l'administrateur du pont : ce choix ne "
        "s'applique pas.",
        en="How you receive messages is set by the bridge's administrator: this choice does "
        "not apply.",
    ),
    "mail_all": Message(
        fr="Courriel : vous recevez les messages de toutes vos conversations par courriel.",
        en="Mail: you receive the messages of all your conversations by mail.",
    ),
    "mail_default": Message(
        fr="Courriel : par défaut (une notification quand vous n'êtes joignable ni dans SPICO "
        "ni dans Matrix).",
        en="Mail: default (a notification when you cannot be reached in SPICO nor in Matrix).",
    ),
    "mail_here_stop": Message(
        fr="Cette conversation : arrêtée, aucun courriel.",
        en="This conversation: stopped, no mail.",
    ),
    "mail_here_follow": Message(
        fr="Cette conversation : suivie par courriel (chaque message).",
        en="This conversation: followed by mail (every message).",
    ),
    "mail_here_none": Message(
        fr="Cette conversation : selon votre choix général.",
        en="This conversation: as your general choice says.",
    ),
    "mail_stopped": Message(
        fr="Conversations arrêtées : {ids}",
        en="Stopped conversations: {ids}",
    ),
    "mail_followed": Message(
        fr="Conversations suivies par courriel : {ids}",
        en="Conversations followed by mail: {ids}",
    ),
    "mail_howto": Message(
        fr="Changer : « courriel tout » ou « courriel auto » ; dans le salon d'une "
        "conversation, « !spico courriel suivre », « stop » ou « auto ».",
        en="To change: “mail all” or “mail auto”; in a conversation's room, “!spico mail "
        "follow”, “stop” or “auto”.",
    ),
    "help_mail_usage": Message(
        fr="courriel [tout | auto | suivre | stop]",
        en="mail [all | auto | follow | stop]",
    ),
    "help_mail_what": Message(
        fr="vos courriels : toutes les conversations, ou (salon de conversation) suivre ou "
        "arrêter celle-ci",
        en="your mail: every conversation, or (conversation room) follow or stop this one",
    ),
}

CATALOG = Catalog(_MESSAGES)
#: ``text(language, key, **values)``: the message in that language, its placeholders filled.
text = CATALOG.text
#: ``find(language, key, **values)``: the same, or None for a key built from an outside code.
find = CATALOG.find
