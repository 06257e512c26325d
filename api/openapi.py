"""The OpenAPI 3.0 document for exactly the endpoints in api/urls.py (v1) and api/urls_v2.py (v2).

Schemas here are the contract the tests hold the server to (schemathesis checks every
response against them); the request-field patterns come from api.fields, so what the
document calls valid the server accepts.
"""

from __future__ import annotations

from typing import Any

from api import cursor, fields
from api.http import MAX_LIMIT

J = dict[str, Any]

TIMESTAMP = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
    "example": "2024-05-01 09:30:00",
}
RFC3339 = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
    "example": "2024-05-01T09:30:00Z",
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
        "all_messages_sent_flag": FLAG,
        "has_draft_flag": FLAG,
        "smart_bcc_flag": {**FLAG, "enum": [0], "description": "No Smart BCC here."},
        "mail_link_tracking_enabled_flag": {**FLAG, "enum": [0], "description": "No link tracking here."},
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

MAIL_FILE = _object(
    {
        "id": {"type": "integer"},
        "mail_message_id": {"type": "integer"},
        "file_name": {"type": "string"},
        "name": {"type": "string"},
        "file_type": {"type": "string", "description": "The file name's extension."},
        "mime_type": {"type": "string", "description": "The type the mail declared (not trusted)."},
        "file_size": {"type": "integer"},
        "inline_flag": FLAG,
        "cid": _nullable({"type": "string"}),
        "active_flag": {"type": "boolean"},
        "remote_location": {"type": "null"},
        "add_time": TIMESTAMP,
        "update_time": TIMESTAMP,
        "url": {"type": "string", "description": "The download path (files/{id}/download)."},
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
        "draft": {"nullable": True, "enum": [None], "description": "Drafts are not messages here."},
        "synced_flag": FLAG,
        "deleted_flag": FLAG,
        "external_deleted_flag": FLAG,
        "has_body_flag": FLAG,
        "sent_flag": FLAG,
        "sent_from_pipedrive_flag": FLAG,
        "smart_bcc_flag": FLAG,
        "mail_link_tracking_enabled_flag": {**FLAG, "enum": [0], "description": "No link tracking here."},
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
        "label_ids": {"type": "array", "items": {"type": "string"}},
        "person_id": _nullable({"type": "integer"}),
        "organization_id": _nullable({"type": "integer"}),
        "source_name": {"type": "string", "enum": ["Manually created"]},
        "origin": {"type": "string", "enum": ["ManuallyCreated"]},
        "origin_id": _nullable({"type": "string"}),
        "channel": _nullable({"type": "integer"}),
        "channel_id": _nullable({"type": "string"}),
        "source_deal_id": _nullable({"type": "integer"}),
        "is_archived": {"type": "boolean"},
        "was_seen": {"type": "boolean"},
        "value": _nullable(_object({"amount": {"type": "number"}, "currency": {"type": "string"}})),
        "expected_close_date": _nullable({"type": "string"}),
        "next_activity_id": _nullable({"type": "integer"}),
        "add_time": RFC3339,
        "update_time": RFC3339,
        "visible_to": {"type": "string", "enum": ["3"], "description": "Entire company."},
        "cc_email": _nullable({"type": "string", "description": "No Smart BCC address here: null."}),
    }
)

# --- API v2 shapes ---------------------------------------------------------------------

_NULL = {"nullable": True, "enum": [None]}
_EMPTY_LIST = {"type": "array", "maxItems": 0, "items": {}}
_EMPTY_OBJECT = {"type": "object", "maxProperties": 0}

DEAL_V2 = _object(
    {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "owner_id": _nullable({"type": "integer"}),
        "person_id": _nullable({"type": "integer"}),
        "org_id": _nullable({"type": "integer"}),
        "pipeline_id": {**_NULL, "description": "No pipelines here."},
        "stage_id": {**_NULL, "description": "No stages here."},
        "value": {"type": "number"},
        "currency": {"type": "string"},
        "add_time": RFC3339,
        "update_time": RFC3339,
        "stage_change_time": _NULL,
        "is_deleted": {"type": "boolean", "enum": [False]},
        "is_archived": {"type": "boolean", "enum": [False]},
        "status": {"type": "string", "enum": ["open", "won", "lost"]},
        "probability": _NULL,
        "lost_reason": _NULL,
        "visible_to": {"type": "integer", "enum": [3], "description": "Entire company."},
        "close_time": _NULL,
        "won_time": _NULL,
        "lost_time": _NULL,
        "expected_close_date": _NULL,
        "label_ids": _EMPTY_LIST,
        "origin": _NULL,
        "origin_id": _NULL,
        "channel": _NULL,
        "channel_id": _NULL,
        "source_lead_id": _NULL,
        "arr": _NULL,
        "mrr": _NULL,
        "acv": _NULL,
        "custom_fields": _EMPTY_OBJECT,
    }
)

PERSON_V2 = _object(
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "owner_id": _nullable({"type": "integer"}),
        "org_id": _nullable({"type": "integer"}),
        "add_time": RFC3339,
        "update_time": RFC3339,
        "emails": {"type": "array", "items": _ref("Labelled")},
        "phones": {"type": "array", "items": _ref("Labelled"), "maxItems": 1},
        "is_deleted": {"type": "boolean", "enum": [False]},
        "visible_to": {"type": "integer", "enum": [3]},
        "label_ids": _EMPTY_LIST,
        "picture_id": _NULL,
        "postal_address": {**_NULL, "description": "No postal addresses for persons here."},
        "custom_fields": _EMPTY_OBJECT,
    }
)

ORGANIZATION_V2 = _object(
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "owner_id": _nullable({"type": "integer"}),
        "add_time": RFC3339,
        "update_time": RFC3339,
        "is_deleted": {"type": "boolean", "enum": [False]},
        "visible_to": {"type": "integer", "enum": [3]},
        "address": _nullable(_object({"value": {"type": "string"}})),
        "label_ids": _EMPTY_LIST,
        "website": _NULL,
        "linkedin": _NULL,
        "industry": _NULL,
        "annual_revenue": _NULL,
        "employee_count": _NULL,
        "custom_fields": _EMPTY_OBJECT,
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
            "description": "1 archives any thread, sent-only ones too (as in Pipedrive); 0 unarchives.",
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

# --- API v2 request bodies (JSON only) --------------------------------------------------

_V2_ID = {**ID, "nullable": True}
_V2_OWNER = {**ID, "description": "The owner; defaults to the token's user. Not null."}
_V2_ENTRIES: J = {
    "type": "array",
    "maxItems": 20,
    "items": {
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": {"type": "string"},
            "primary": {"type": "boolean"},
            "label": {"type": "string", "description": "Accepted; every address reads back as 'work'."},
        },
    },
}


def _v2_body(properties: J, required: list[str]) -> J:
    # Fields Pipedrive has and this server does not store are refused (400), not dropped.
    schema: J = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


_DEAL_V2_FIELDS = {
    "title": {**_TEXT, "maxLength": 255},
    "owner_id": _V2_OWNER,
    "person_id": _V2_ID,
    "org_id": _V2_ID,
    "value": {"type": "number", "minimum": -float(fields.MAX_MONEY), "maximum": float(fields.MAX_MONEY)},
    "currency": {"type": "string", "pattern": fields.CURRENCY_PATTERN},
    "status": {"type": "string", "enum": ["open", "won", "lost"]},
}
_PERSON_V2_FIELDS = {
    "name": {**_TEXT, "maxLength": 255},
    "owner_id": _V2_OWNER,
    "org_id": _V2_ID,
    "emails": {
        **_V2_ENTRIES,
        "items": {
            **_V2_ENTRIES["items"],
            "properties": {
                **_V2_ENTRIES["items"]["properties"],
                "value": {"type": "string", "pattern": fields.EMAIL_PATTERN},
            },
        },
        "description": "Replaces all of the person's addresses.",
    },
    "phones": {
        **_V2_ENTRIES,
        "maxItems": 1,
        "items": {
            **_V2_ENTRIES["items"],
            "properties": {
                **_V2_ENTRIES["items"]["properties"],
                "value": {"type": "string", "pattern": fields.PHONE_PATTERN},
            },
        },
        "description": "One phone number per person is kept.",
    },
}
_ORGANIZATION_V2_FIELDS = {
    "name": {**_TEXT, "maxLength": 255},
    "owner_id": _V2_OWNER,
    "address": _nullable(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"value": _nullable({"type": "string", "pattern": r"^[^\x00]{0,500}$"})},
        }
    ),
}

# --- operations ------------------------------------------------------------------------


def _envelope(data: J, *, pagination: str | None = None, extra: J | None = None) -> J:
    """The success envelope; ``pagination``: "nested" (v1 additional_data.pagination),
    "flat" (v1, the fields straight in additional_data) or "cursor" (v2 next_cursor)."""
    properties: J = {"success": {"type": "boolean", "enum": [True]}, **(extra or {}), "data": data}
    required = ["success", *(extra or {}), "data"]
    if pagination == "nested":
        properties["additional_data"] = _object({"pagination": _ref("Pagination")})
    elif pagination == "flat":
        properties["additional_data"] = _ref("Pagination")
    elif pagination == "cursor":
        properties["additional_data"] = _object(
            {"next_cursor": _nullable({"type": "string", "description": "null on the last page"})}
        )
    if pagination is not None:
        required.append("additional_data")
    return {"type": "object", "properties": properties, "required": required}


def _json(schema: J, description: str) -> J:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": "Bad input (a malformed id, parameter or field, or one this server does not support).",
    "401": "Missing or wrong API token.",
    "403": "Visible to you (shared) but not yours to change.",
    "404": "No such object for you — another company's ids included.",
    "405": "Method not allowed on this path.",
    "409": "The object's state does not allow this (or an e-mail address is taken).",
    "415": "The body is not in a media type this endpoint takes.",
    "413": "The file is above the size limit for downloads here (open it in the mail provider).",
    "502": "The mail provider did not give the file.",
}


def _responses(ok_status: str, ok_schema: J, description: str, errors: tuple[str, ...]) -> J:
    responses = {ok_status: _json(ok_schema, description)}
    for status in ("400", "401", "405", *errors):
        responses[status] = _json(_ref("Error"), _ERRORS[status])
    return responses


def _id_param(description: str) -> J:
    return {"name": "id", "in": "path", "required": True, "description": description, "schema": ID}


def _query(name: str, schema: J, description: str | None = None) -> J:
    param: J = {"name": name, "in": "query", "schema": schema}
    if description:
        param["description"] = description
    return param


_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100})
_PAGE_PARAMS = [
    _query("start", {"type": "integer", "minimum": 0, "maximum": 999_999_999, "default": 0}),
    _LIMIT,
]


def _body(schema_name: str, *, required: bool = True) -> J:
    return {
        "required": required,
        "content": {
            "application/json": {"schema": _ref(schema_name)},
            "application/x-www-form-urlencoded": {"schema": _ref(f"{schema_name}Form")},
        },
    }


def _json_body(schema_name: str, *, required: bool = True) -> J:
    return {"required": required, "content": {"application/json": {"schema": _ref(schema_name)}}}


def _list(summary: str, item: str, extra_params: list[J] | None = None, *, pagination: str = "nested") -> J:
    return {
        "summary": summary,
        "parameters": [*(extra_params or []), *_PAGE_PARAMS],
        "responses": _responses(
            "200", _envelope({"type": "array", "items": _ref(item)}, pagination=pagination), "OK", ()
        ),
    }


def _get_one(
    summary: str, item: str, what: str, extra_params: list[J] | None = None, *, extra: J | None = None
) -> J:
    return {
        "summary": summary,
        "parameters": [_id_param(f"The ID of the {what}"), *(extra_params or [])],
        "responses": _responses("200", _envelope(_ref(item), extra=extra), "OK", ("404",)),
    }


def _record_mail(what: str) -> J:
    return {
        "summary": f"List mail messages linked to a {what} (archived ones included), newest first",
        "parameters": [_id_param(f"The ID of the {what}"), *_PAGE_PARAMS],
        "responses": _responses(
            "200",
            _envelope({"type": "array", "items": _ref("MailFlowItem")}, pagination="flat"),
            "OK",
            ("404",),
        ),
    }


def _post(summary: str, body: str, item: str) -> J:
    return {
        "summary": summary,
        "requestBody": _body(body),
        "responses": _responses("201", _envelope(_ref(item)), "Created", ("404", "409", "415")),
    }


# The mail service's envelope fields on GET /mailbox/mailMessages/{id}.
MAIL_SERVICE_FIELDS = {
    "statusCode": {"type": "integer", "enum": [200]},
    "statusText": {"type": "string", "enum": ["OK"]},
    "service": {"type": "string"},
}


def v1_paths() -> J:
    return {
        "/mailbox/mailThreads": {
            "get": _list(
                "Get mail threads of a folder, newest first",
                "MailThread",
                [
                    _query(
                        "folder",
                        {
                            "type": "string",
                            "enum": ["inbox", "drafts", "sent", "archive"],
                            "default": "inbox",
                        },
                    )
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
                [_query("include_body", {"type": "integer", "enum": [0, 1], "default": 0})],
                extra=MAIL_SERVICE_FIELDS,
            )
        },
        "/mailbox/mailMessages/{id}/files": {
            "get": {
                "summary": "List a mail message's attachments as File objects (not a Pipedrive path)",
                "parameters": [_id_param("The ID of the mail message")],
                "responses": _responses(
                    "200", _envelope({"type": "array", "items": _ref("MailFile")}), "OK", ("404",)
                ),
            }
        },
        "/files/{id}": {"get": _get_one("Get one mail attachment as a File object", "MailFile", "file")},
        "/files/{id}/download": {
            "get": {
                "summary": "Download a file (streamed; never shown inline)",
                "parameters": [_id_param("The ID of the file")],
                "responses": {
                    "200": {
                        "description": "The file's bytes, Content-Disposition: attachment",
                        "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **{
                        status: _json(_ref("Error"), _ERRORS[status])
                        for status in ("400", "401", "404", "405", "413", "502")
                    },
                },
            }
        },
        "/deals": {
            "get": _list(
                "Get all deals of the company (deprecated at Pipedrive: use /v2/deals)",
                "Deal",
                [
                    _query(
                        "status",
                        {
                            "type": "string",
                            "enum": ["open", "won", "lost", "deleted", "all_not_deleted"],
                            "default": "all_not_deleted",
                        },
                    )
                ],
            ),
            "post": _post("Add a deal", "AddDeal", "Deal"),
        },
        "/deals/{id}": {
            "get": _get_one("Get one deal (deprecated at Pipedrive: use /v2/deals/{id})", "Deal", "deal")
        },
        "/deals/{id}/mailMessages": {"get": _record_mail("deal")},
        "/persons": {
            "get": _list(
                "Get all persons of the company (deprecated at Pipedrive: use /v2/persons)", "Person"
            ),
            "post": _post("Add a person", "AddPerson", "Person"),
        },
        "/persons/{id}": {"get": _get_one("Get one person", "Person", "person")},
        "/persons/{id}/mailMessages": {"get": _record_mail("person")},
        "/organizations": {
            "get": _list(
                "Get all organizations of the company (deprecated at Pipedrive: use /v2/organizations)",
                "Organization",
            )
        },
        "/organizations/{id}": {"get": _get_one("Get one organization", "Organization", "organization")},
        "/leads": {
            "get": _list(
                "Get all leads of the company",
                "Lead",
                [
                    _query(
                        "archived_status",
                        {"type": "string", "enum": ["archived", "not_archived", "all"], "default": "all"},
                    )
                ],
                pagination="flat",
            )
        },
        "/leads/{id}": {"get": _get_one("Get one lead", "Lead", "lead")},
    }


_ID_QUERY = {"type": "integer", "minimum": 1, "maximum": fields.MAX_ID}
_TIME_QUERY = {"type": "string", "pattern": cursor.RFC3339_PATTERN}
_V2_LIST_PARAMS = [
    _query(
        "ids",
        {"type": "string", "pattern": r"^[1-9][0-9]{0,17}(,[1-9][0-9]{0,17}){0,99}$"},
        "Up to 100 comma-separated ids.",
    ),
    _query("owner_id", _ID_QUERY),
    _query("updated_since", _TIME_QUERY, "RFC 3339, e.g. 2025-01-01T10:20:00Z; update_time >= this."),
    _query("updated_until", _TIME_QUERY, "RFC 3339; update_time < this."),
    _query("sort_by", {"type": "string", "enum": ["id", "update_time", "add_time"], "default": "id"}),
    _query("sort_direction", {"type": "string", "enum": ["asc", "desc"], "default": "asc"}),
    _LIMIT,
    _query(
        "cursor",
        {"type": "string", "pattern": f"({cursor.CURSOR_PATTERN})|^$"},
        "additional_data.next_cursor of the previous page (it continues that page's sort).",
    ),
]


def _v2_list(summary: str, item: str, extra_params: list[J]) -> J:
    return {
        "summary": summary,
        "parameters": [*extra_params, *_V2_LIST_PARAMS],
        "responses": _responses(
            "200", _envelope({"type": "array", "items": _ref(item)}, pagination="cursor"), "OK", ()
        ),
    }


def _v2_object(what: str, item: str, add: str, update: str) -> tuple[J, J]:
    """(list path item's POST, detail path item) for a v2 object."""
    errors = ("404", "409", "415")
    post = {
        "summary": f"Add a {what}",
        "requestBody": _json_body(add),
        "responses": _responses("201", _envelope(_ref(item)), "Created", errors),
    }
    detail = {
        "get": _get_one(f"Get one {what}", item, what),
        "patch": {
            "summary": f"Update a {what}: only the fields sent change",
            "parameters": [_id_param(f"The ID of the {what}")],
            "requestBody": _json_body(update, required=False),
            "responses": _responses("200", _envelope(_ref(item)), "Updated", errors),
        },
        "delete": {
            "summary": f"Delete a {what} for good; mail linked to it stays, unlinked",
            "parameters": [_id_param(f"The ID of the {what}")],
            "responses": _responses(
                "200", _envelope(_object({"id": {"type": "integer"}})), "Deleted", ("404",)
            ),
        },
    }
    return post, detail


def v2_paths() -> J:
    deal_post, deal_detail = _v2_object("deal", "DealV2", "AddDealV2", "UpdateDealV2")
    person_post, person_detail = _v2_object("person", "PersonV2", "AddPersonV2", "UpdatePersonV2")
    org_post, org_detail = _v2_object(
        "organization", "OrganizationV2", "AddOrganizationV2", "UpdateOrganizationV2"
    )
    return {
        "/deals": {
            "get": _v2_list(
                "Get deals (cursor pages)",
                "DealV2",
                [
                    _query("person_id", _ID_QUERY),
                    _query("org_id", _ID_QUERY),
                    _query(
                        "status",
                        {
                            "type": "string",
                            "pattern": r"^(open|won|lost|deleted)(,(open|won|lost|deleted)){0,3}$",
                        },
                        "Comma-separated; none are ever 'deleted' here.",
                    ),
                ],
            ),
            "post": deal_post,
        },
        "/deals/{id}": deal_detail,
        "/persons": {
            "get": _v2_list(
                "Get persons (cursor pages)",
                "PersonV2",
                [_query("org_id", _ID_QUERY), _query("deal_id", _ID_QUERY)],
            ),
            "post": person_post,
        },
        "/persons/{id}": person_detail,
        "/organizations": {
            "get": _v2_list("Get organizations (cursor pages)", "OrganizationV2", []),
            "post": org_post,
        },
        "/organizations/{id}": org_detail,
    }


def paths() -> J:
    """Both versions in one document, under the server /api."""
    return {
        **{f"/v1{path}": item for path, item in v1_paths().items()},
        **{f"/v2{path}": item for path, item in v2_paths().items()},
    }


def document() -> J:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Sales Inbox API (Pipedrive v1 and v2 compatible)",
            "version": "2.0.0",
            "description": (
                "Pipedrive's API v1 mailbox, lead and (deprecated) CRM endpoints under /api/v1, and "
                "its API v2 deals, persons and organizations under /api/v2, served by Sales Inbox. "
                "Point a Pipedrive client at <your site>/api/v1 or <your site>/api/v2. Authenticate "
                "with your API token in the x-api-token header (what Pipedrive's clients send), an "
                "Authorization: Bearer header, or the api_token query parameter. v1 flags are 0/1 "
                "and timestamps UTC 'YYYY-MM-DD HH:MM:SS'; v2 and v1 leads use RFC 3339. Lead ids "
                "are strings, as in Pipedrive. Differences from Pipedrive: docs/api.md."
            ),
        },
        "servers": [{"url": "/api"}],
        "security": [{"x_api_token": []}, {"bearer": []}, {"api_token": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "x_api_token": {"type": "apiKey", "in": "header", "name": "x-api-token"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "api_token": {"type": "apiKey", "in": "query", "name": "api_token"},
            },
            "schemas": {
                "Error": ERROR,
                "Pagination": PAGINATION,
                "Party": PARTY,
                "MailThread": MAIL_THREAD,
                "MailMessage": MAIL_MESSAGE,
                "MailFile": MAIL_FILE,
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
                "DealV2": DEAL_V2,
                "PersonV2": PERSON_V2,
                "OrganizationV2": ORGANIZATION_V2,
                "AddDealV2": _v2_body(_DEAL_V2_FIELDS, ["title"]),
                "UpdateDealV2": _v2_body(_DEAL_V2_FIELDS, []),
                "AddPersonV2": _v2_body(_PERSON_V2_FIELDS, ["name"]),
                "UpdatePersonV2": _v2_body(_PERSON_V2_FIELDS, []),
                "AddOrganizationV2": _v2_body(_ORGANIZATION_V2_FIELDS, ["name"]),
                "UpdateOrganizationV2": _v2_body(_ORGANIZATION_V2_FIELDS, []),
            },
        },
    }
