"""What the mail world reads of the configuration, as frozen values.

Built once from the config by :func:`settings_from` (as ``bridge/matrix/world.py`` does for
Matrix), so the sink and the inbox never hold the whole ``BridgeConfig``: what they depend on is
listed here, and the reply-token key is resolved once (never logged: not in the repr).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bridge.config import (
    BridgeConfig,
    BridgeExisting,
    ImapConfig,
    Language,
    MailConfig,
    PatientTag,
    SmtpConfig,
)
from bridge.mail.answers import AnswerLimits
from bridge.mail.assess import MailTrustSettings
from bridge.mail.authentication import Requirement
from bridge.mail.limits import MailLimits


@dataclass(frozen=True)
class TrustSettings:
    """The inputs of the trust space (``bridge/mail/trust.py``)."""

    #: Domain patterns (``*.`` = any subdomain), lower-case IDNA.
    trusted_domains: tuple[str, ...]
    #: Whether the admin wrote ``trusted_domains`` (then they still count next to a whitelist).
    explicit_domains: bool
    whitelist_file: Path | None
    allow_patient_mailboxes: bool


def inbound_settings_from(mail: MailConfig) -> MailTrustSettings:
    """What the inbox's trust pipeline needs: the policy, the caps, the answer limits."""
    assert mail.address  # guaranteed by validation when mail is enabled
    limits = mail.limits
    answers = mail.answers
    return MailTrustSettings(
        own_address=mail.address.lower(),
        authserv_id=mail.authentication.authserv_id,
        require=Requirement(mail.authentication.require),
        allow_patient_mailboxes=mail.allow_patient_mailboxes,
        limits=MailLimits(
            max_mail_bytes=limits.max_mail_bytes,
            max_parts=limits.max_parts,
            # Read up to twice the files passed on (``mail.max_attachments``; the others are
            # left out and the author told); a mail with more is refused before decoding.
            max_attachments=max(MailLimits().max_attachments, 2 * mail.max_attachments),
            max_attachment_bytes=mail.max_attachment_bytes,
            max_text_part_bytes=limits.max_text_part_bytes,
            max_html_bytes=limits.max_html_bytes,
            max_html_elements=limits.max_html_elements,
            max_text_chars=limits.max_text_chars,
            budget_seconds=limits.parse_budget_seconds,
        ),
        answers=AnswerLimits(
            per_address=answers.per_address,
            per_address_window=timedelta(hours=answers.per_address_window_hours),
            total=answers.total,
            total_window=timedelta(minutes=answers.total_window_minutes),
        ),
    )


def trust_settings_from(mail: MailConfig) -> TrustSettings:
    return TrustSettings(
        trusted_domains=mail.trusted_domains,
        explicit_domains="trusted_domains" in mail.model_fields_set,
        whitelist_file=mail.whitelist_file,
        allow_patient_mailboxes=mail.allow_patient_mailboxes,
    )


@dataclass(frozen=True)
class MailSettings:
    """The ``mail:`` section, with what the mail world needs of ``spico:``, ``policy:`` and
    ``notifications:``."""

    #: The bridge's application mailbox, and how its mails are signed.
    address: str
    display_name: str
    mss_nil: str | None
    #: SPICO's web app, linked from notifications.
    spico_web_url: str | None
    smtp: SmtpConfig
    imap: ImapConfig
    #: HMAC key of reply tokens and Message-IDs.
    token_key: bytes = field(repr=False)
    token_ttl_days: int
    #: Caps on what one mail passes on to SPICO and on the files mailed out.
    max_attachment_bytes: int
    max_attachments: int
    templates_dir: Path | None
    trust: TrustSettings
    #: The inbox's trust pipeline: authentication policy, caps, answer limits.
    inbound: MailTrustSettings
    #: How much of the patient's identity mail subjects show (``policy.mail_patient_tag``).
    patient_tag: PatientTag
    #: The language of notifications and answers (``notifications.language``).
    language: Language
    notifications_enabled: bool
    notification_period_minutes: int
    notification_digests: bool
    #: ``spico.bridge_existing``: on a first start, ``new`` leaves the mailbox's history aside.
    bridge_existing: BridgeExisting


def settings_from(config: BridgeConfig) -> MailSettings:
    mail = config.mail
    # Guaranteed by validation when mail is enabled.
    assert mail.address and mail.smtp and mail.imap and mail.token_key
    return MailSettings(
        address=mail.address,
        display_name=mail.display_name,
        mss_nil=mail.mss_nil,
        spico_web_url=config.spico.web_url,
        smtp=mail.smtp,
        imap=mail.imap,
        token_key=mail.token_key.get().encode(),
        token_ttl_days=mail.token_ttl_days,
        max_attachment_bytes=mail.max_attachment_bytes,
        max_attachments=mail.max_attachments,
        templates_dir=mail.templates_dir,
        trust=trust_settings_from(mail),
        inbound=inbound_settings_from(mail),
        patient_tag=config.policy.mail_patient_tag,
        language=config.notifications.language,
        notifications_enabled=config.notifications.enabled,
        notification_period_minutes=config.notifications.period_minutes,
        notification_digests=config.notifications.digest,
        bridge_existing=config.spico.bridge_existing,
    )
