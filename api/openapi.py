"""The OpenAPI 3.0 document for exactly the endpoints in api/urls.py.

Schemas here are the contract the tests hold the server to (schemathesis checks every
response against them); the request-field patterns come from api.fields, so what the
document calls valid the server accepts.
"""

from __future__ import annotations

from typing import Any

from api import fields
from api.http import MAX_LIMIT

J = dict[str, Any]

TIMESTAMP = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
    "example": "2024-05-01 09:30:00",
}
# The same instants in the token owner's time zone (Personal settings › Time zone).
LOCAL_TIME = {**TIMESTAMP, "description": "The time in the user's time zone (see time_zone)."}
TIME_ZONE = {"type": "string", "example": "Europe/Stockholm", "description": "The user's IANA time zone."}
FLAG = {"type": "integer", "enum": [0, 1]}
ID = {"type": "integer", "minimum": 1, "maximum": fields.MAX_ID}


def _nullable(schema: J) -> J:
    # OpenAPI 3.0.3: with an enum, null must also be listed for nullable to admit it.
    if "enum" in schema:
        schema = {**schema, "enum": [*schema["enum"], None]}
    return {**schema, "nullable": True}


def _ref(name: str) -> J:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: J, required: list[str] | None = None) -> J:
    schema: J = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    return schema


PARTY = _object(
    {
        "id": _nullable({"type": "integer"}),
        "email_address": {"type": "string"},
        "name": {"type": "string"},
        "linked_person_id": _nullable({"type": "integer"}),
        "linked_person_name": _nullable({"type": "string"}),
        "mail_message_party_id": _nullable({"type": "integer"}),
    }
)

MAIL_THREAD = _object(
    {
        "id": {"type": "integer"},
        "account_id": {"type": "string", "description": "The mailbox the thread belongs to."},
        "user_id": _nullable(
            {"type": "integer", "description": "Owner of a personal mailbox; null for a team mailbox."}
        ),
        "subject": {"type": "string"},
        "snippet": {"type": "string"},
        "read_flag": FLAG,
        "has_attachments_flag": FLAG,
        "deleted_flag": FLAG,
        "synced_flag": FLAG,
        "shared_flag": FLAG,
        "archived_flag": FLAG,
        "external_deleted_flag": FLAG,
        "has_sent_flag": FLAG,
        "has_draft_flag": FLAG,
        "parties": _object(
            {
                "to": {"type": "array", "items": _ref("Party")},
                "from": {"type": "array", "items": _ref("Party")},
            }
        ),
        "folders": {"type": "array", "items": {"type": "string", "enum": ["inbox", "sent", "archive"]}},
        "message_count": {"type": "integer", "minimum": 0},
        "first_message_timestamp": TIMESTAMP,
        "last_message_timestamp": TIMESTAMP,
        "first_message_local_time": LOCAL_TIME,
        "last_message_local_time": LOCAL_TIME,
        "time_zone": TIME_ZONE,
        "add_time": TIMESTAMP,
        "update_time": TIMESTAMP,
        "deal_id": _nullable({"type": "integer"}),
        "deal_status": _nullable({"type": "string", "enum": ["open", "won", "lost"]}),
        "lead_id": _nullable({"type": "string"}),
    }
)

MAIL_MESSAGE = _object(
    {
        "id": {"type": "integer"},
        "mail_thread_id": {"type": "integer"},
        "account_id": {"type": "string"},
        "user_id": _nullable({"type": "integer"}),
        "subject": {"type": "string"},
        "snippet": {"type": "string"},
        "from": {"type": "array", "items": _ref("Party")},
        "to": {"type": "array", "items": _ref("Party")},
        "cc": {"type": "array", "items": _ref("Party")},
        "bcc": {"type": "array", "items": _ref("Party")},
        "read_flag": FLAG,
        "draft_flag": FLAG,
        "synced_flag": FLAG,
        "deleted_flag": FLAG,
        "external_deleted_flag": FLAG,
        "has_body_flag": FLAG,
        "sent_flag": FLAG,
        "sent_from_pipedrive_flag": FLAG,
        "smart_bcc_flag": FLAG,
        "has_attachments_flag": FLAG,
        "has_inline_attachments_flag": FLAG,
        "has_real_attachments_flag": FLAG,
        "mua_message_id": {"type": "string"},
        "message_time": TIMESTAMP,
        "message_local_time": LOCAL_TIME,
        "time_zone": TIME_ZONE,
        "add_time": TIMESTAMP,
        "update_time": TIMESTAMP,
        "item_type": {"type": "string", "enum": ["mailMessage"]},
        "body": {
            "type": "string",
            "description": "Only with include_body=1: the HTML body, or the text one.",
        },
    },
    required=[
        "id",
        "mail_thread_id",
        "account_id",
        "subject",
        "from",
        "to",
        "cc",
        "message_time",
        "sent_flag",
    ],
)

MAIL_FLOW_ITEM = _object(
    {
        "object": {"type": "string", "enum": ["mailMessage"]},
        "timestamp": TIMESTAMP,
        "data": _ref("MailMessage"),
    }
)

USER_REF = _nullable(
    _object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "has_pic": FLAG,
            "pic_hash": _nullable({"type": "string"}),
            "active_flag": {"type": "boolean"},
            "value": {"type": "integer"},
        }
    )
)

LABELLED = _object({"label": {"type": "string"}, "value": {"type": "string"}, "primary": {"type": "boolean"}})

PERSON_REF = _nullable(
    _object(
        {
            "active_flag": {"type": "boolean"},
            "name": {"type": "string"},
            "email": {"type": "array", "items": _ref("Labelled")},
            "phone": {"type": "array", "items": _ref("Labelled")},
            "owner_id": _nullable({"type": "integer"}),
            "value": {"type": "integer"},
        }
    )
)

ORG_REF = _nullable(
    _object(
        {
            "name": {"type": "string"},
            "owner_id": _nullable({"type": "integer"}),
            "address": _nullable({"type": "string"}),
            "active_flag": {"type": "boolean"},
            "value": {"type": "integer"},
        }
    )
)

DEAL = _object(
    {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "value": {"type": "number"},
        "currency": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "won", "lost"]},
        "active": {"type": "boolean"},
        "deleted": {"type": "boolean"},
        "user_id": _ref("UserRef"),
        "owner_name": _nullable({"type": "string"}),
        "person_id": _ref("PersonRef"),
        "person_name": _nullable({"type": "string"}),
        "org_id": _ref("OrgRef"),
        "org_name": _nullable({"type": "string"}),
        "add_time": TIMESTAMP,
        "update_time": TIMESTAMP,
    }
)

PERSON = _object(
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "active_flag": {"type": "boolean"},
        "email": {"type": "array", "items": _ref("Labelled")},
        "primary_email": _nullable({"type": "string"}),
        "phone": {"type": "array", "items": _ref("Labelled")},
        "owner_id": _ref("UserRef"),
        "owner_name": _nullable({"type": "string"}),
        "org_id": _ref("OrgRef"),
        "org_name": _nullable({"type": "string"}),
        "add_time": TIMESTAMP,
        "update_time": TIMESTAMP,
    }
)

ORGANIZATION = _object(
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "address": _nullable({"type": "string"}),
        "active_flag": {"type": "boolean"},
        "people_count": {"type": "integer", "minimum": 0},
        "owner_id": _ref("UserRef"),
        "owner_name": _nullable({"type": "string"}),
        "add_time": TIMESTAMP,
        "update_time": TIMESTAMP,
    }
)

LEAD = _object(
    {
        "id": {"type": "string", "description": "Pipedrive's lead ids are strings; ours hold a number."},
        "title": {"type": "string"},
        "owner_id": _nullable({"type": "integer"}),
        "creator_id": _nullable({"type": "integer"}),
        "person_id": _nullable({"type": "integer"}),
        "organization_id": _nullable({"type": "integer"}),
        "value": _nullable(_object({"amount": {"type": "number"}, "currency": {"type": "string"}})),
        "is_archived": {"type": "boolean"},
        "was_seen": {"type": "boolean"},
        "label_ids": {"type": "array", "items": {"type": "string"}},
        "expected_close_date": _nullable({"type": "string"}),
        "add_time": TIMESTAMP,
        "update_time": TIMESTAMP,
    }
)

PAGINATION = _object(
    {
        "start": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        "more_items_in_collection": {"type": "boolean"},
        "next_start": {
            "type": "integer",
            "description": "Present only when more_items_in_collection is true.",
        },
    },
    required=["start", "limit", "more_items_in_collection"],
)

ERROR = _object(
    {
        "success": {"type": "boolean", "enum": [False]},
        "error": {"type": "string"},
        "errorCode": {"type": "integer"},
        "error_info": {"type": "string"},
        "data": _nullable({"type": "object"}),
        "additional_data": _nullable({"type": "object"}),
    },
    required=["success", "error", "error_info"],
)

# --- request bodies (patterns shared with api.fields) ----------------------------------

_BODY_ID = {
    "oneOf": [ID, {"type": "string", "pattern": fields.ID_PATTERN}],
    "nullable": True,
}
_BODY_FLAG = {"enum": [0, 1, "0", "1"]}
_TEXT = {"type": "string", "pattern": fields.TEXT_PATTERN}

UPDATE_THREAD = {
    "type": "object",
    "properties": {
        "deal_id": {**_BODY_ID, "description": "Link to this deal (replaces a lead); null unlinks."},
        "lead_id": {**_BODY_ID, "description": "Link to this lead (replaces a deal); null unlinks."},
        "shared_flag": _BODY_FLAG,
        "read_flag": _BODY_FLAG,
        "archived_flag": {
            **_BODY_FLAG,
            "description": "1 archives (only from the Inbox: else 409); 0 unarchives.",
        },
    },
    # A thread has a deal or a lead, never both.
    "not": {
        "required": ["deal_id", "lead_id"],
        "properties": {"deal_id": {"not": {"enum": [None]}}, "lead_id": {"not": {"enum": [None]}}},
    },
}

_MONEY = {
    "oneOf": [
        {"type": "number", "minimum": -float(fields.MAX_MONEY), "maximum": float(fields.MAX_MONEY)},
        {"type": "string", "pattern": fields.MONEY_PATTERN},
    ],
    "nullable": True,
}

ADD_DEAL = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {**_TEXT, "maxLength": 255},
        "value": _MONEY,
        "currency": _nullable({"type": "string", "pattern": fields.CURRENCY_PATTERN}),
        "status": _nullable({"type": "string", "enum": ["open", "won", "lost"]}),
        "person_id": _BODY_ID,
        "org_id": _BODY_ID,
        "user_id": {**_BODY_ID, "description": "The owner; defaults to the token's user."},
    },
}


def _entries(pattern: str) -> J:
    value = {"type": "string", "pattern": pattern}
    item = {
        "oneOf": [
            value,
            {
                "type": "object",
                "required": ["value"],
                "properties": {"value": value, "primary": {"type": "boolean"}, "label": {"type": "string"}},
            },
        ]
    }
    return {"oneOf": [value, {"type": "array", "maxItems": 20, "items": item}], "nullable": True}


ADD_PERSON = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {**_TEXT, "maxLength": 255},
        "email": _entries(fields.EMAIL_PATTERN),
        "phone": _entries(fields.PHONE_PATTERN),
        "org_id": _BODY_ID,
        "owner_id": {**_BODY_ID, "description": "The owner; defaults to the token's user."},
    },
}

# A form carries only strings, once each; an empty value means null (unlink / default).


def _optional(pattern: str) -> str:
    """The pattern, or the empty string."""
    return f"^({pattern[1:-1]})?$"


_FORM_ID = {"type": "string", "pattern": _optional(fields.ID_PATTERN)}
_FORM_FLAG = {"type": "string", "enum": ["0", "1"]}

UPDATE_THREAD_FORM = {
    "type": "object",
    "properties": {
        "deal_id": _FORM_ID,
        "lead_id": _FORM_ID,
        "shared_flag": _FORM_FLAG,
        "read_flag": _FORM_FLAG,
        "archived_flag": _FORM_FLAG,
    },
    "not": {
        "required": ["deal_id", "lead_id"],
        "properties": {"deal_id": {"minLength": 1}, "lead_id": {"minLength": 1}},
    },
}

ADD_DEAL_FORM = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {**_TEXT, "maxLength": 255},
        "value": {"type": "string", "pattern": _optional(fields.MONEY_PATTERN)},
        "currency": {"type": "string", "pattern": _optional(fields.CURRENCY_PATTERN)},
        "status": {"type": "string", "enum": ["open", "won", "lost", ""]},
        "person_id": _FORM_ID,
        "org_id": _FORM_ID,
        "user_id": _FORM_ID,
    },
}

ADD_PERSON_FORM = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {**_TEXT, "maxLength": 255},
        "email": {"type": "string", "pattern": _optional(fields.EMAIL_PATTERN)},
        "phone": {"type": "string", "pattern": fields.PHONE_PATTERN},
        "org_id": _FORM_ID,
        "owner_id": _FORM_ID,
    },
}

# --- operations ------------------------------------------------------------------------


def _envelope(data: J, *, paginated: bool = False) -> J:
    properties: J = {"success": {"type": "boolean", "enum": [True]}, "data": data}
    required = ["success", "data"]
    if paginated:
        properties["additional_data"] = _object({"pagination": _ref("Pagination")})
        required.append("additional_data")
    return {"type": "object", "properties": properties, "required": required}


def _json(schema: J, description: str) -> J:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": "Bad input (a malformed id, parameter or field).",
    "401": "Missing or wrong api_token.",
    "403": "Visible to you (shared) but not yours to change.",
    "404": "No such object for you — another company's ids included.",
    "405": "Method not allowed on this path.",
    "409": "The object's state does not allow this.",
    "415": "The body is neither JSON nor form-encoded.",
}


def _responses(ok_status: str, ok_schema: J, description: str, errors: tuple[str, ...]) -> J:
    responses = {ok_status: _json(ok_schema, description)}
    for status in ("400", "401", "405", *errors):
        responses[status] = _json(_ref("Error"), _ERRORS[status])
    return responses


def _id_param(description: str) -> J:
    return {"name": "id", "in": "path", "required": True, "description": description, "schema": ID}


_PAGE_PARAMS = [
    {
        "name": "start",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999, "default": 0},
    },
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
    },
]


def _body(schema_name: str, *, required: bool = True) -> J:
    return {
        "required": required,
        "content": {
            "application/json": {"schema": _ref(schema_name)},
            "application/x-www-form-urlencoded": {"schema": _ref(f"{schema_name}Form")},
        },
    }


def _list(summary: str, item: str, extra_params: list[J] | None = None) -> J:
    return {
        "summary": summary,
        "parameters": [*(extra_params or []), *_PAGE_PARAMS],
        "responses": _responses(
            "200", _envelope({"type": "array", "items": _ref(item)}, paginated=True), "OK", ()
        ),
    }


def _get_one(summary: str, item: str, what: str, extra_params: list[J] | None = None) -> J:
    return {
        "summary": summary,
        "parameters": [_id_param(f"The ID of the {what}"), *(extra_params or [])],
        "responses": _responses("200", _envelope(_ref(item)), "OK", ("404",)),
    }


def _record_mail(what: str) -> J:
    return {
        "summary": f"List mail messages linked to a {what} (archived ones included), newest first",
        "parameters": [_id_param(f"The ID of the {what}"), *_PAGE_PARAMS],
        "responses": _responses(
            "200", _envelope({"type": "array", "items": _ref("MailFlowItem")}, paginated=True), "OK", ("404",)
        ),
    }


def _post(summary: str, body: str, item: str) -> J:
    return {
        "summary": summary,
        "requestBody": _body(body),
        "responses": _responses("201", _envelope(_ref(item)), "Created", ("404", "409", "415")),
    }


def paths() -> J:
    return {
        "/mailbox/mailThreads": {
            "get": _list(
                "Get mail threads of a folder, newest first",
                "MailThread",
                [
                    {
                        "name": "folder",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["inbox", "drafts", "sent", "archive"],
                            "default": "inbox",
                        },
                    }
                ],
            )
        },
        "/mailbox/mailThreads/{id}": {
            "get": _get_one("Get one mail thread", "MailThread", "mail thread"),
            "put": {
                "summary": "Update a mail thread: link a deal or lead, share, mark read, (un)archive",
                "parameters": [_id_param("The ID of the mail thread")],
                # No body, no change (as in Pipedrive): the thread comes back as it is.
                "requestBody": _body("UpdateMailThread", required=False),
                "responses": _responses(
                    "200", _envelope(_ref("MailThread")), "The updated thread", ("403", "404", "409", "415")
                ),
            },
            "delete": {
                "summary": "Delete a mail thread for good (and to the Trash when the delete switch is on)",
                "parameters": [_id_param("The ID of the mail thread")],
                "responses": _responses(
                    "200", _envelope(_object({"id": {"type": "integer"}})), "Deleted", ("403", "404")
                ),
            },
        },
        "/mailbox/mailThreads/{id}/mailMessages": {
            "get": {
                "summary": "Get all mail messages of a mail thread, oldest first",
                "parameters": [_id_param("The ID of the mail thread")],
                "responses": _responses(
                    "200", _envelope({"type": "array", "items": _ref("MailMessage")}), "OK", ("404",)
                ),
            }
        },
        "/mailbox/mailMessages/{id}": {
            "get": _get_one(
                "Get one mail message",
                "MailMessage",
                "mail message",
                [
                    {
                        "name": "include_body",
                        "in": "query",
                        "schema": {"type": "integer", "enum": [0, 1], "default": 0},
                    }
                ],
            )
        },
        "/deals": {
            "get": _list(
                "Get all deals of the company",
                "Deal",
                [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["open", "won", "lost", "deleted", "all_not_deleted"],
                            "default": "all_not_deleted",
                        },
                    }
                ],
            ),
            "post": _post("Add a deal", "AddDeal", "Deal"),
        },
        "/deals/{id}": {"get": _get_one("Get one deal", "Deal", "deal")},
        "/deals/{id}/mailMessages": {"get": _record_mail("deal")},
        "/persons": {
            "get": _list("Get all persons of the company", "Person"),
            "post": _post("Add a person", "AddPerson", "Person"),
        },
        "/persons/{id}": {"get": _get_one("Get one person", "Person", "person")},
        "/persons/{id}/mailMessages": {"get": _record_mail("person")},
        "/organizations": {"get": _list("Get all organizations of the company", "Organization")},
        "/organizations/{id}": {"get": _get_one("Get one organization", "Organization", "organization")},
        "/leads": {
            "get": _list(
                "Get all leads of the company",
                "Lead",
                [
                    {
                        "name": "archived_status",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["archived", "not_archived", "all"],
                            "default": "all",
                        },
                    }
                ],
            )
        },
        "/leads/{id}": {"get": _get_one("Get one lead", "Lead", "lead")},
    }


def document() -> J:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Sales Inbox API (Pipedrive v1 compatible)",
            "version": "1.0.0",
            "description": (
                "The mailbox and CRM endpoints of Pipedrive's API v1, served by Sales Inbox. Point a "
                "Pipedrive client at <your site>/api/v1 and authenticate with your api_token (query "
                "parameter) or an Authorization: Bearer header. Flags are 0/1; timestamps are UTC "
                "'YYYY-MM-DD HH:MM:SS'. Lead ids are strings, as in Pipedrive."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"api_token": []}, {"bearer": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "api_token": {"type": "apiKey", "in": "query", "name": "api_token"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": ERROR,
                "Pagination": PAGINATION,
                "Party": PARTY,
                "MailThread": MAIL_THREAD,
                "MailMessage": MAIL_MESSAGE,
                "MailFlowItem": MAIL_FLOW_ITEM,
                "UserRef": USER_REF,
                "PersonRef": PERSON_REF,
                "OrgRef": ORG_REF,
                "Labelled": LABELLED,
                "Deal": DEAL,
                "Person": PERSON,
                "Organization": ORGANIZATION,
                "Lead": LEAD,
                "UpdateMailThread": UPDATE_THREAD,
                "AddDeal": ADD_DEAL,
                "AddPerson": ADD_PERSON,
                "UpdateMailThreadForm": UPDATE_THREAD_FORM,
                "AddDealForm": ADD_DEAL_FORM,
                "AddPersonForm": ADD_PERSON_FORM,
            },
        },
    }
