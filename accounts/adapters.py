from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class NoOpenSignupAdapter(DefaultAccountAdapter):
    """Users belong to a company, so company admins create them; nobody signs up alone."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False
