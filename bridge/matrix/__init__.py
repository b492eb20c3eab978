"""Matrix world: portal rooms, relay bot, commands. Built in a later issue."""
