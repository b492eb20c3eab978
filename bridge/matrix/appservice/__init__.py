"""Appservice mode: the homeserver pushes transactions to the bridge, and every SPICO
professional is a Matrix user of the bridge's own (a ghost). The relay bot's translation and
portal logic are shared; only how events come in and who sends what differ."""
