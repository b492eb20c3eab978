"""Every text the mail world writes to a professional, in French (the source) and English.

Answers to refused mails (never repeating what the sender wrote: ``bridge.mail.answers``), to
new-conversation mails, and the lines the code adds to conversation
mails and notifications (``bridge.mail.compose``, ``bridge.mail.newconv``). The notification
mails themselves are templates (``templates/notification.<fr|en>.txt``, which admins override
with ``mail.templates_dir``), chosen by the same language selection. To add a text: add a
``Message`` below with both languages and the same ``{placeholders}``, then call
``text(language, key, **values)``.
"""

from __future__ import annotations

from bridge.core.i18n import Catalog, Message

_MESSAGES = {
    # shared
    "hello": Message(
        fr="Bonjour,",
        en="Hello,",
    ),
    # a conversation message by mail (compose_message)
    "message_footer": Message(
        fr="Répondez à ce message pour répondre dans la conversation SPICO.",
        en="Reply to this mail to answer in the SPICO conversation.",
    ),
    "attachments_in_spico": Message(
        fr="Pièces jointes (dans SPICO) :",
        en="Attachments (in SPICO):",
    ),
    "attachment_size": Message(
        fr="- {name} ({kilobytes} Ko)",
        en="- {name} ({kilobytes} KB)",
    ),
    # notifications and digests: one message in $messages (the rest is the template)
    "notified_message": Message(
        fr="{author} ({at}) :\n{body}",
        en="{author} ({at}) :\n{body}",
    ),
    # answers to refused mails (bridge.mail.answers): the bridge's words only, never the
    # sender's (no subject, no address, no text): only when the bridge received the mail
    "answer_signature": Message(
        fr="SPICO (message automatique, ne pas répondre)",
        en="SPICO (automatic message, do not reply)",
    ),
    "refused_subject": Message(
        fr="Message non transmis à SPICO",
        en="Message not passed on to SPICO",
    ),
    "refused_body": Message(
        fr="Votre message reçu le {received:%d/%m/%Y à %H:%M} (UTC) n'a pas été transmis à "
        "SPICO : {why}.",
        en="Your mail received on {received:%Y-%m-%d at %H:%M} (UTC) was not passed on to "
        "SPICO: {why}.",
    ),
    "refusal_reason_other": Message(
        fr="il n'a pas pu être accepté",
        en="it could not be accepted",
    ),
    "refusal_reason_no_token": Message(
        fr="il ne répond à aucun message de SPICO ; répondez au message reçu de SPICO",
        en="it does not answer a SPICO mail; reply to the mail you received from SPICO",
    ),
    "refusal_reason_forged_token": Message(
        fr="le lien de réponse est invalide ; répondez au message reçu de SPICO",
        en="the reply link is invalid; reply to the mail you received from SPICO",
    ),
    "refusal_reason_expired_token": Message(
        fr="le lien de réponse a expiré ; répondez depuis SPICO",
        en="the reply link has expired; answer from SPICO",
    ),
    "refusal_reason_not_token_holder": Message(
        fr="il utilise le lien de réponse d'un autre participant ; répondez au message que "
        "vous avez reçu vous-même",
        en="it uses another member's reply link; reply to the mail you received yourself",
    ),
    "refusal_reason_member_removed": Message(
        fr="vous ne participez plus à cette conversation",
        en="you are no longer a member of this conversation",
    ),
    "refusal_reason_empty": Message(
        fr="il ne contient aucun texte",
        en="it contains no text",
    ),
    "refusal_reason_too_many_containers": Message(
        fr="sa structure est trop complexe",
        en="its structure is too complex",
    ),
    "refusal_reason_too_deep": Message(
        fr="sa structure est trop complexe",
        en="its structure is too complex",
    ),
    "refusal_reason_too_many_parts": Message(
        fr="il contient trop de parties",
        en="it has too many parts",
    ),
    "refusal_reason_too_many_attachments": Message(
        fr="il contient trop de pièces jointes",
        en="it has too many attachments",
    ),
    "refusal_reason_text_too_large": Message(
        fr="son texte est trop long",
        en="its text is too long",
    ),
    "refusal_reason_html_too_large": Message(
        fr="sa mise en forme est trop volumineuse ; envoyez-le en texte brut",
        en="its formatting is too large; send it as plain text",
    ),
    "refusal_reason_html_too_complex": Message(
        fr="sa mise en forme est trop complexe ; envoyez-le en texte brut",
        en="its formatting is too complex; send it as plain text",
    ),
    "refusal_reason_unreadable": Message(
        fr="il n'a pas pu être lu",
        en="it could not be read",
    ),
    "refusal_reason_spico_refused": Message(
        fr="SPICO l'a refusé",
        en="SPICO refused it",
    ),
    # an accepted mail of which a part was left out (answers.dropped_text)
    "partly_subject": Message(
        fr="Message transmis en partie à SPICO",
        en="Message partly passed on to SPICO",
    ),
    "partly_body": Message(
        fr="Votre message reçu le {received:%d/%m/%Y à %H:%M} (UTC) a été transmis à SPICO, "
        "mais pas en entier :",
        en="Your mail received on {received:%Y-%m-%d at %H:%M} (UTC) was passed on to SPICO, "
        "but not all of it:",
    ),
    "partly_text": Message(
        fr="- son texte était trop long : la fin n'a pas été transmise ;",
        en="- its text was too long: the end was not passed on;",
    ),
    "attachments_too_large": Message(
        fr="- {count} pièce(s) jointe(s) de plus de {limit} Mo ;",
        en="- {count} attachment(s) over {limit} MB;",
    ),
    "attachments_too_many": Message(
        fr="- {count} pièce(s) jointe(s) au-delà des {limit} acceptées par message ;",
        en="- {count} attachment(s) beyond the {limit} accepted per message;",
    ),
    "partly_parts": Message(
        fr="- {count} partie(s) illisible(s) n'ont pas été transmises ;",
        en="- {count} unreadable part(s) were not passed on;",
    ),
    "partly_howto": Message(
        fr="Ajoutez ce qui manque dans SPICO, ou dans de nouvelles réponses plus légères.",
        en="Add what is missing in SPICO, or in new, lighter replies.",
    ),
    # the answer to a new-conversation mail that started nothing
    "newconv_refused_title": Message(
        fr="Conversation non créée",
        en="Conversation not started",
    ),
    "newconv_refused": Message(
        fr="Votre message reçu le {received:%d/%m/%Y à %H:%M} (UTC) n'a pas démarré de "
        "conversation SPICO : {reason}.",
        en="Your mail received on {received:%Y-%m-%d at %H:%M} (UTC) did not start a SPICO "
        "conversation: {reason}.",
    ),
    "reason_explained": Message(
        fr="{reason} : {explanation}",
        en="{reason}: {explanation}",
    ),
    "addresses_title": Message(
        fr="Adresses en cause :",
        en="Addresses concerned:",
    ),
    "address_count": Message(
        fr="- {count} adresse(s) {problem}",
        en="- {count} address(es) {problem}",
    ),
    "newconv_howto": Message(
        fr="Aucune conversation n'a été créée et personne n'a reçu votre message. Pour démarrer "
        "une conversation SPICO par messagerie : écrivez un nouveau message à {address}, "
        "avec l'objet de la conversation, les adresses MSSanté des participants en "
        "destinataires ou en copie, votre premier message, et si besoin une ligne « Patient "
        ": <identifiant SPICO ou INS> ».",
        en="No conversation was created and nobody received your mail. To start a SPICO "
        "conversation by mail: write a new mail to {address}, with the conversation's "
        "subject, the members' MSSanté addresses in To or Cc, your first message, and if "
        'needed a line "Patient: <SPICO patient id or INS>".',
    ),
    # why no conversation was started (newconv.Refusal.reason)
    "newconv_reason_sender_unknown": Message(
        fr="votre adresse n'est pas celle d'un professionnel de l'annuaire SPICO",
        en="your address is not a professional's in the SPICO directory",
    ),
    "newconv_reason_sender_no_account": Message(
        fr="vous n'avez pas de compte SPICO",
        en="you have no SPICO account",
    ),
    "newconv_reason_no_subject": Message(
        fr="l'objet est obligatoire : il devient le sujet de la conversation",
        en="the subject is required: it becomes the conversation's subject",
    ),
    "newconv_reason_no_members": Message(
        fr="il ne nomme aucun participant : mettez leurs adresses MSSanté en destinataires ou "
        "en copie (pour répondre à une conversation, répondez au message reçu de SPICO)",
        en="it names no member: put their MSSanté addresses in To or Cc (to answer a "
        "conversation, reply to the mail you received from SPICO)",
    ),
    "newconv_reason_too_many_members": Message(
        fr="il nomme trop de participants (au plus {max_members})",
        en="it names too many members (at most {max_members})",
    ),
    "newconv_reason_empty": Message(
        fr="il ne contient aucun texte : le texte devient le premier message",
        en="it contains no text: the text becomes the first message",
    ),
    "newconv_reason_addresses": Message(
        fr="certaines adresses ne peuvent pas être des participants",
        en="some addresses cannot be members",
    ),
    "newconv_reason_several_patients": Message(
        fr="plusieurs lignes « Patient : » nomment des patients différents ; une conversation "
        "concerne au plus un patient",
        en='several "Patient:" lines name different patients; a conversation is about one '
        "patient at most",
    ),
    "newconv_reason_invalid_ins": Message(
        fr="l'INS de la ligne « Patient : » est invalide (sa clé ne correspond pas)",
        en='the INS on the "Patient:" line is invalid (its key does not match)',
    ),
    "newconv_reason_patient_not_found": Message(
        fr="le patient de la ligne « Patient : » n'est pas dans votre file active SPICO : "
        "indiquez son identifiant SPICO, ou ajoutez-le à votre file active",
        en='the patient on the "Patient:" line is not in your SPICO active files: give their '
        "SPICO patient id, or add them to your active files",
    ),
    "newconv_reason_spico_refused": Message(
        fr="SPICO l'a refusé",
        en="SPICO refused it",
    ),
    # why an address cannot be a member (newconv.AddressProblem.why)
    "address_unknown": Message(
        fr="absente(s) de l'annuaire SPICO (vérifiez l'adresse MSSanté du professionnel)",
        en="not in the SPICO directory (check the professional's MSSanté address)",
    ),
    "address_untrusted": Message(
        fr="hors de l'espace de confiance MSSanté",
        en="outside the MSSanté trust space",
    ),
    "address_structure": Message(
        fr="de structure : une conversation SPICO réunit des professionnels, écrivez à "
        "l'adresse personnelle de l'un d'eux",
        en="of a structure: a SPICO conversation is between professionals, use the personal "
        "address of one of them",
    ),
    # SPICO's refusal codes (openapi.yaml) as a sentence; SPICO's own sentence follows
    "spico_code_no_patient_access": Message(
        fr="vous n'avez pas accès à ce patient (ni cercle de soins, ni file active)",
        en="you have no access to this patient (neither care circle nor active files)",
    ),
    "spico_code_not_found": Message(
        fr="un élément est introuvable (patient ou participant)",
        en="something could not be found (patient or member)",
    ),
    "spico_code_unknown_member": Message(
        fr="un participant n'existe pas dans SPICO",
        en="a member does not exist in SPICO",
    ),
    "spico_code_no_delegation": Message(
        fr="vous ne pouvez pas agir pour ce compte",
        en="you may not act for this account",
    ),
    "spico_code_no_account": Message(
        fr="un compte SPICO manque",
        en="a SPICO account is missing",
    ),
    "spico_code_idempotency_mismatch": Message(
        fr="ce message a déjà servi à une autre demande",
        en="this mail was already used for another request",
    ),
    # the confirmation of a conversation started by mail
    "created_with": Message(
        fr="Votre conversation SPICO « {subject} » est créée avec : {members}.",
        en='Your SPICO conversation "{subject}" has been started with: {members}.',
    ),
    "created_patient": Message(
        fr="Le patient y est lié.",
        en="The patient is linked to it.",
    ),
    "created_members": Message(
        fr="Les participants reçoivent votre message par SPICO.",
        en="The members receive your message through SPICO.",
    ),
    "created_footer": Message(
        fr="Répondez à ce message pour écrire dans la conversation SPICO.",
        en="Reply to this mail to write in the SPICO conversation.",
    ),
    # the first message of a conversation started by a mail with attachments only
    "attachments_named": Message(
        fr="Pièces jointes : {names}",
        en="Attachments: {names}",
    ),
    # the footer's addresses that change a member's mail (compose.choice_lines)
    "choice_stop": Message(
        fr="Ne plus recevoir cette conversation par courriel : écrivez à {address}",
        en="Stop receiving this conversation by mail: write to {address}",
    ),
    "choice_all": Message(
        fr="Recevoir toutes vos conversations SPICO par courriel : écrivez à {address}",
        en="Receive all your SPICO conversations by mail: write to {address}",
    ),
    "choice_follow": Message(
        fr="Suivre cette conversation par courriel (chaque message) : écrivez à {address}",
        en="Follow this conversation by mail (every message): write to {address}",
    ),
    # the confirmation of a choice made by mail (receiver._choose)
    "choice_subject": Message(
        fr="[SPICO] Vos courriels SPICO",
        en="[SPICO] Your SPICO mail",
    ),
    "choice_done_stop": Message(
        fr="C'est noté : vous ne recevrez plus les messages de la conversation « {subject} » "
        "par courriel.",
        en='Done: you will no longer receive the messages of the conversation "{subject}" by mail.',
    ),
    "choice_done_follow": Message(
        fr="C'est noté : vous recevrez chaque message de la conversation « {subject} » par "
        "courriel.",
        en='Done: you will receive every message of the conversation "{subject}" by mail.',
    ),
    "choice_done_all": Message(
        fr="C'est noté : vous recevrez les messages de toutes vos conversations SPICO par "
        "courriel (sauf celles que vous avez arrêtées).",
        en="Done: you will receive the messages of all your SPICO conversations by mail "
        "(except those you stopped).",
    ),
    "choice_pinned": Message(
        fr="Votre mode de réception est fixé par l'administrateur du pont : ce choix ne "
        "s'applique pas. Demandez-lui.",
        en="How you receive messages is set by the bridge's administrator: this choice does not "
        "apply. Ask them.",
    ),
    # the one-time code that links a Matrix account (bridge.core.linking)
    "link_code_subject": Message(
        fr="[SPICO] Code de liaison de votre compte Matrix",
        en="[SPICO] Code to link your Matrix account",
    ),
    "link_code_body": Message(
        fr=(
            "Bonjour,\n\nLe compte Matrix {user} demande à être lié à votre compte SPICO.\n\n"
            "Votre code : {code}\n\nPour confirmer, écrivez au robot SPICO, dans le salon "
            "direct où vous l'avez demandé : code {code}\nCe code est valable jusqu'à {until} "
            "(heure UTC), pour 5 essais.\n\nSi vous n'êtes pas à l'origine de cette demande, "
            "ignorez ce message : aucun compte ne sera lié sans ce code."
        ),
        en=(
            "Hello,\n\nThe Matrix account {user} asks to be linked to your SPICO account.\n\n"
            "Your code: {code}\n\nTo confirm, write to the SPICO bot, in the direct room "
            "where you asked for it: code {code}\nThis code is valid until {until} (UTC), for "
            "5 tries.\n\nIf you did not ask for this, ignore this mail: no account is linked "
            "without this code."
        ),
    ),
}

CATALOG = Catalog(_MESSAGES)
#: ``text(language, key, **values)``: the message in that language, its placeholders filled.
text = CATALOG.text
#: ``find(language, key, **values)``: the same, or None for a key built from an outside code.
find = CATALOG.find
