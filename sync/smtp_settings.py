"""The outgoing (SMTP) half of connecting an IMAP mailbox, kept apart from the IMAP connect
form and view so either can change without the other: extra form fields, and ``resolve``,
which checks what the user typed by a real login — or, left empty, guesses from the IMAP host
and keeps the first guess that logs in. What it returns is merged into the account's
``config["smtp"]`` and (the password) its encrypted ``credentials["smtp_password"]``."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from sync.errors import ProviderError
from sync.providers.imap.smtp import SmtpSettings, find_smtp, verify_smtp

SMTP_SECURITY_LABELS = {"starttls": "STARTTLS (usually port 587)", "ssl": "SSL/TLS (usually port 465)"}


class SmtpFields(forms.Form):
    """Mixed into the IMAP connect form; every field optional (empty: guessed)."""

    smtp_host = forms.CharField(
        required=False, max_length=253, label="Outgoing (SMTP) server", help_text="Empty: found for you"
    )
    smtp_port = forms.IntegerField(required=False, min_value=1, max_value=65535, label="SMTP port")
    smtp_security = forms.ChoiceField(
        required=False, choices=[("", "Usual"), *SMTP_SECURITY_LABELS.items()], label="SMTP security"
    )
    smtp_login = forms.CharField(
        required=False, max_length=320, label="SMTP login", help_text="Empty: the IMAP login"
    )
    smtp_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        label="SMTP password",
        help_text="Empty: the IMAP password",
    )

    def clean_smtp_host(self) -> str:
        host = (self.cleaned_data.get("smtp_host") or "").strip()
        if any(c.isspace() for c in host) or "/" in host:
            raise forms.ValidationError("Enter a server name such as smtp.example.com.")
        return host


SMTP_FIELD_ORDER = ["smtp_host", "smtp_port", "smtp_security", "smtp_login", "smtp_password"]


@dataclass(frozen=True)
class SmtpResult:
    config: dict[str, object] | None  # None: no outgoing server (the mailbox syncs, cannot send)
    password: str
    note: str = ""


class SmtpRefused(Exception):
    """The SMTP settings the user typed did not work (shown on the form)."""


def resolve(data: dict[str, object], *, imap_host: str, imap_login: str, imap_password: str) -> SmtpResult:
    login = str(data.get("smtp_login") or "").strip() or imap_login
    password = str(data.get("smtp_password") or "") or imap_password
    host = str(data.get("smtp_host") or "").strip()
    if host:
        security = str(data.get("smtp_security") or "starttls")
        port = int(data.get("smtp_port") or (465 if security == "ssl" else 587))  # type: ignore[call-overload]
        settings = SmtpSettings(host, port, security, login)
        try:
            verify_smtp(settings, password)
        except ProviderError as exc:
            raise SmtpRefused(f"The outgoing server {host}:{port} did not accept the login: {exc}") from exc
        return SmtpResult(settings.to_config(), password)
    try:
        found = find_smtp(imap_host, login, password)
    except ProviderError as exc:
        return SmtpResult(None, "", f"Sending is off for this mailbox: {exc}")
    return SmtpResult(found.to_config(), password)
