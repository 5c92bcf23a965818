"""kombu transports notabene ships (chosen by URL scheme in notabene.connection)."""
