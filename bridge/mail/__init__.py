"""Secure-mail world (MSSanté): compose, parse, SMTP out, IMAP in. Built in a later issue."""
