"""Secure-mail world (MSSanté): compose, tokens, trust space, SMTP out, IMAP in through the
trust pipeline (``receiver``: author, authentication, token holder, bounded parsing),
inactive-user notifications, and private Postfix + Dovecot for tests and the demo."""
