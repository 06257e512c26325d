"""Typed errors the inbox services raise; views and the API map them to responses."""


class InboxError(Exception):
    """Base for errors a user can be shown as they are."""


class NotFound(InboxError):
    """The object does not exist or the user may not see it (the two look the same)."""


class NotAllowed(InboxError):
    """The user may see the object but not change it."""


class InvalidRequest(InboxError):
    """The request makes no sense for this object (e.g. a deal and a lead at once)."""


class PlanLimitReached(InboxError):
    """The company's plan does not allow this."""
