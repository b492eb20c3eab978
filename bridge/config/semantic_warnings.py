"""Warnings on a valid configuration: what is allowed but probably not what the admin meant."""

from __future__ import annotations

from collections.abc import Mapping

from bridge.config.problems import ROOT_PATH, ConfigProblem, line_for
from bridge.config.root import BridgeConfig


def semantic_warnings(
    config: BridgeConfig, file: str, lines: Mapping[str, int]
) -> list[ConfigProblem]:
    """Valid but probably not what the admin meant."""
    warnings: list[ConfigProblem] = []

    def warn(path: str, message: str) -> None:
        warnings.append(ConfigProblem(file, line_for(lines, path), path, f"warning: {message}"))

    recording = config.testing is not None and config.testing.recording_sink is not None
    if recording:
        warn("testing", "the recording sink replaces Matrix and mail: for tests only")
    elif not config.matrix.enabled and not config.mail.enabled:
        warn(ROOT_PATH, "neither matrix nor mail is enabled: nothing will be bridged")
    if (
        config.mail.enabled
        and config.mail.address
        and not config.mail.is_trusted(config.mail.address)
    ):
        warn("mail.address", "the bridge's own address is outside mail.trusted_domains")
    if (
        config.mail.enabled
        and config.mail.authentication.require == "none"
        and not config.mail.servers_on_loopback
    ):
        warn(
            "mail.authentication.require",
            "none with a real mail server: no sender is checked, so anyone in the trust space "
            "can write as a member by putting their address in From. Set require: dmarc (or "
            "aligned) and authserv_id to your receiving server's authserv-id",
        )
    if config.matrix.appservice is not None and config.matrix.mode != "appservice":
        warn("matrix.appservice", "ignored: matrix.mode is not appservice")
    matrix = config.matrix
    if matrix.enabled and matrix.mode == "appservice":
        for key in ("password_file", "password_env", "access_token_file", "access_token_env"):
            if getattr(matrix, key) is not None:
                warn(f"matrix.{key}", "ignored in appservice mode: the bridge uses as_token")
    if matrix.enabled and not matrix.encryption:
        for key in ("crypto_store", "crypto_pickle_key_file", "crypto_pickle_key_env"):
            if getattr(matrix, key) is not None:
                warn(f"matrix.{key}", "ignored: matrix.encryption is false")
    if matrix.enabled and matrix.encryption and config.database_url.startswith("postgresql"):
        warn(
            "matrix.encryption",
            "with encryption only one bridge process may run the Matrix side (one bot device, "
            "one key store): a second process using the same bot is refused at start",
        )
    if matrix.enabled and matrix.self_service.enabled and not config.mail.enabled:
        warn(
            "matrix.self_service.enabled",
            "no account can be linked: the one-time codes are sent by mail and mail is not enabled",
        )
    if config.notifications.enabled and not config.mail.enabled and "notifications" in lines:
        warn("notifications", "ignored: notifications are sent by mail and mail is not enabled")
    for index, participant in enumerate(config.participants):
        if (
            config.mail.enabled
            and participant.mail
            and not config.mail.is_trusted(participant.mail)
        ):
            warn(
                f"participants[{index}].mail",
                "outside mail.trusted_domains: no mail will be sent to or accepted from it",
            )
        if (
            config.matrix.enabled
            and participant.matrix_user
            and config.matrix.server_name
            and not config.matrix.federate
            and participant.matrix_user.split(":", 1)[1] != config.matrix.server_name
        ):
            warn(
                f"participants[{index}].matrix_user",
                "on another server while matrix.federate is false: this user cannot join "
                "the bridged rooms",
            )
    return warnings
