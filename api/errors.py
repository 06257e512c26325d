"""Pipedrive-style errors: ``{"success": false, "error": ..., "error_info": ...}``."""

from __future__ import annotations

from django.http import JsonResponse

ERROR_INFO = "See /api/openapi.json for the endpoints and fields this server supports."


class ApiError(Exception):
    """An error answered as Pipedrive does: ``{"success": false, "error": ..., ...}``."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error

    def response(self) -> JsonResponse:
        return error_response(self.status, self.error)


def error_response(status: int, error: str) -> JsonResponse:
    return JsonResponse(
        {
            "success": False,
            "error": error,
            "errorCode": status,
            "error_info": ERROR_INFO,
            "data": None,
            "additional_data": None,
        },
        status=status,
    )
