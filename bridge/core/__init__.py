"""Pure domain code: identifiers, types, routing and policy. No I/O here."""
