"""Calls callcore places: callbacks of missed calls, follow-ups, click-to-call, and the
hand-off of callers to 110, 119, 120, 122 and utility lines."""
