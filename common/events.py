"""The normalized event types downstream services subscribe to (CONTRACT §6)."""

MESSAGE_RECEIVED = "io.smspipe.message.received.v1"
MESSAGE_STATUS = "io.smspipe.message.status.v1"
LINK_CLICKED = "io.smspipe.link.clicked.v1"
KEYWORD_MATCHED = "io.smspipe.keyword.matched.v1"
CONSENT_CHANGED = "io.smspipe.consent.changed.v1"

EVENT_TYPES = (MESSAGE_RECEIVED, MESSAGE_STATUS, LINK_CLICKED, KEYWORD_MATCHED, CONSENT_CHANGED)
