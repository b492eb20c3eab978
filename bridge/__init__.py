"""spico-bridge: SPICO conversations in Matrix rooms and secure mail."""

__version__ = "0.1.0"
