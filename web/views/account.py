"""Personal settings › Time zone. Thin: parse, call accounts.time_zones, redirect."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.models import User
from accounts.plans import PLAN_ORDER
from accounts.services import set_plan
from accounts.time_zones import UnknownTimeZone, known_time_zones, set_time_zone


@login_required
@require_http_methods(["GET", "POST"])
def time_zone(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    error = ""
    if request.method == "POST":
        guess = request.POST.get("guess") == "1"
        try:
            changed = set_time_zone(user, request.POST.get("time_zone", ""), only_if_unset=guess)
        except UnknownTimeZone as exc:
            if guess:
                return HttpResponse(status=204)  # the browser's guess is only a guess
            error = str(exc)
        else:
            if guess:
                # Sent by the page script for a user who has no zone yet.
                return HttpResponse("changed" if changed else "kept", content_type="text/plain")
            messages.success(request, f"Times are now shown in {user.time_zone}.")
            return redirect("time_zone")
    return render(
        request,
        "settings/time_zone.html",
        {
            "section": "time_zone",
            "zones": known_time_zones(),
            "current": user.time_zone,
            "now": timezone.now(),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def plan(request: HttpRequest) -> HttpResponse:
    """Personal settings › Plan: everyone sees it; company admins change it."""
    user = cast(User, request.user)
    if request.method == "POST":
        try:
            company = set_plan(user, request.POST.get("plan", ""))
        except ValueError as exc:
            return HttpResponseBadRequest(str(exc))
        messages.success(request, f"{company} is now on the {company.get_plan_display()} plan.")
        return redirect("plan")
    return render(
        request,
        "settings/plan.html",
        {"section": "plan", "plans": PLAN_ORDER, "current": user.company.plan if user.company else ""},
    )
