"""TLS for every peer the bridge talks to (SPICO, the homeserver, SMTP, IMAP).

One way to build a client context: the system's trust store, or the configured CA file instead
(MSSanté: IGC Santé; a private SPICO or homeserver: the operator's CA), TLS 1.2 at least, and an
optional client certificate. Plaintext is the config's business: it is refused for any peer that
is not on the loopback interface (``bridge/config``).
"""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(
    ca_file: Path | str | None = None,
    cert_file: Path | str | None = None,
    key_file: Path | str | None = None,
) -> ssl.SSLContext:
    """A verifying client context: host name and chain checked against ``ca_file`` when given
    (else the system's CAs), TLS 1.2 minimum, a client certificate when given."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return context
