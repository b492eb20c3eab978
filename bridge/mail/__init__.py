"""Secure-mail world (MSSanté): compose, parse, tokens, trust space, SMTP out, IMAP in,
inactive-user notifications, and private Postfix + Dovecot for tests and the demo."""
