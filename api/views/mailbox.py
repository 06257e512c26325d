"""/mailbox/mailThreads and /mailbox/mailMessages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from accounts.models import User
from api import selectors, serializers, services
from api.http import MAIL_SERVICE, api_view, choice_param, ok, ok_page, pagination, parse_id, request_body


@api_view("GET")
def thread_list(request: HttpRequest, user: User) -> HttpResponse:
    folder = choice_param(request, "folder", selectors.FOLDERS, "inbox")
    start, limit = pagination(request)
    threads, more = selectors.thread_page(user, folder, start=start, limit=limit)
    return ok_page([serializers.thread(t) for t in threads], start=start, limit=limit, more=more)


@api_view("GET", "PUT", "DELETE")
def thread_detail(request: HttpRequest, user: User, thread_id: str) -> HttpResponse:
    pk = parse_id(thread_id)
    if request.method == "PUT":
        return ok(serializers.thread(services.update_thread(user, pk, request_body(request))))
    if request.method == "DELETE":
        return ok({"id": services.delete_thread(user, pk)})
    return ok(serializers.thread(selectors.get_thread(user, pk)))


@api_view("GET")
def thread_messages(request: HttpRequest, user: User, thread_id: str) -> HttpResponse:
    conversation, messages = selectors.thread_messages(user, parse_id(thread_id))
    return ok([serializers.message(m, conversation) for m in messages])


@api_view("GET")
def message_detail(request: HttpRequest, user: User, message_id: str) -> HttpResponse:
    pk = parse_id(message_id)
    include_body = choice_param(request, "include_body", ("0", "1"), "0") == "1"
    msg = selectors.get_message(user, pk)
    # Pipedrive answers this one from its mail service, whose envelope also carries
    # statusCode, statusText and service (the official clients type them as required).
    return ok(
        serializers.message(msg, msg.conversation, include_body=include_body),
        extra={"statusCode": 200, "statusText": "OK", "service": MAIL_SERVICE},
    )
