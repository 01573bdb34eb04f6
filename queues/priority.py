"""Queue priorities (Asterisk QUEUE_PRIO): higher is answered first, whatever the arrival order."""

NORMAL = 0
ENTERPRISE = 5  # 一企来: registered enterprise contacts
RETURNED = 10  # a caller coming back from a failed transfer goes ahead of everyone
