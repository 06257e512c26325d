"""Personal settings › API: see whether you have a token, make a new one, or revoke it.

An ordinary signed-in page (session cookie + CSRF), deliberately outside /api/ where
only tokens count. The plaintext appears once, in the response to "Generate"; it is
stored nowhere, so a reload shows only its last four characters.
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.models import User
from api.models import ApiToken
from api.tokens import issue_token, revoke_token


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_settings(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)  # login_required: never anonymous here
    new_token = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "generate":
            new_token = issue_token(user)
        elif action == "revoke":
            if revoke_token(user):
                messages.success(request, "Your API token was revoked; scripts using it now get 401.")
            return redirect("api_settings:page")
        else:
            return HttpResponse("Unknown action.", status=400)
    token = ApiToken.objects.filter(user=user).first()
    return render(
        request,
        "api/settings.html",
        {
            "token": token,
            "new_token": new_token,
            "base_url": request.build_absolute_uri("/api/v1"),
            "base_url_v2": request.build_absolute_uri("/api/v2"),
        },
    )
