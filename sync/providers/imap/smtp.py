"""The SMTP side of an IMAP mailbox: its settings (stored next to the IMAP ones — host,
port, security and login in ``account.config["smtp"]``, the password encrypted in
``account.credentials["smtp_password"]``), guessing them from the IMAP host, checking them by
a real login, and handing one message over (``deliver``) with each stage recorded.

Kept apart from the IMAP connect form and service on purpose: connecting only calls
``find_smtp`` / ``verify_smtp`` and stores ``SmtpSettings.to_config()``.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from inbox.models import MailAccount, SendStage
from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.providers.base import Checkpoint, SendAmbiguous, SendRequest

SMTP_SECURITY = ("starttls", "ssl", "none")
TIMEOUT = 30.0
# Guessing at connect time: an unreachable guess must not keep the page waiting long.
GUESS_TIMEOUT = 8.0
# Providers whose SMTP server files what it sends in the Sent folder itself: APPENDing our
# own copy there would show the message twice.
FILES_SENT_ITSELF = ("smtp.gmail.com", "smtp.office365.com", "smtp-mail.outlook.com")
KNOWN = {
    "imap.gmail.com": ("smtp.gmail.com", 587, "starttls"),
    "outlook.office365.com": ("smtp.office365.com", 587, "starttls"),
    "imap-mail.outlook.com": ("smtp-mail.outlook.com", 587, "starttls"),
    "imap.mail.yahoo.com": ("smtp.mail.yahoo.com", 465, "ssl"),
    "imap.mail.me.com": ("smtp.mail.me.com", 587, "starttls"),
    "imap.fastmail.com": ("smtp.fastmail.com", 465, "ssl"),
}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    login: str
    files_sent: bool = False

    @classmethod
    def from_account(cls, account: MailAccount) -> SmtpSettings:
        config = (account.config or {}).get("smtp")
        if not isinstance(config, dict) or not config.get("host"):
            raise ProviderPermanentError(
                f"No outgoing (SMTP) server is set for {account.address}: add it to the mailbox's settings."
            )
        try:
            settings = cls(
                host=str(config["host"]),
                port=int(config.get("port") or 587),
                security=str(config.get("security") or "starttls"),
                login=str(config.get("login") or account.address),
                files_sent=bool(config.get("files_sent", False)),
            )
        except (TypeError, ValueError) as exc:
            raise ProviderPermanentError(
                f"The SMTP settings of {account.address} are incomplete ({exc})."
            ) from exc
        if settings.security not in SMTP_SECURITY:
            raise ProviderPermanentError(f"Unknown SMTP security {settings.security!r}.")
        return settings

    def to_config(self) -> dict[str, object]:
        return asdict(self)


def smtp_password(account: MailAccount) -> str:
    credentials = account.credentials if isinstance(account.credentials, dict) else {}
    password = credentials.get("smtp_password") or credentials.get("password")
    if not password:
        raise ProviderAuthError(f"No SMTP password is stored for {account.address}.")
    return str(password)


def guess_smtp(imap_host: str, login: str) -> list[SmtpSettings]:
    """Likely outgoing servers for an IMAP host, most likely first."""
    host = imap_host.strip().lower().rstrip(".")
    if host in KNOWN:
        name, port, security = KNOWN[host]
        return [SmtpSettings(name, port, security, login, name in FILES_SENT_ITSELF)]
    names = [host]
    for prefix in ("imap.", "mail.", "imap4.", "mx."):
        if host.startswith(prefix):
            names.insert(0, "smtp." + host.removeprefix(prefix))
            break
    guesses = []
    for name in dict.fromkeys(names):
        guesses += [SmtpSettings(name, 587, "starttls", login), SmtpSettings(name, 465, "ssl", login)]
    return guesses


@contextmanager
def smtp_errors(doing: str) -> Iterator[None]:
    """smtplib's exceptions as the typed provider errors: 4xx and a dropped line are
    temporary, a refused login is the credentials, 5xx is permanent."""
    try:
        yield
    except smtplib.SMTPAuthenticationError as exc:
        raise ProviderAuthError(f"The SMTP server refused the login: {_reply(exc)}") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise ProviderPermanentError(
            f"The SMTP server does not offer what is needed ({doing}): {exc}"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise ProviderTemporaryError(f"The SMTP server is busy ({doing}): {_reply(exc)}") from exc
        raise ProviderPermanentError(f"The SMTP server refused ({doing}): {_reply(exc)}") from exc
    except (smtplib.SMTPServerDisconnected, TimeoutError) as exc:
        raise ProviderTemporaryError(f"The SMTP connection broke while {doing}: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise ProviderPermanentError(f"The SMTP server's certificate is not trusted: {exc}") from exc
    except (ssl.SSLError, OSError, smtplib.SMTPException) as exc:
        raise ProviderTemporaryError(f"Could not reach the SMTP server while {doing}: {exc}") from exc


def _reply(exc: smtplib.SMTPResponseException) -> str:
    message = (
        exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {message}".strip()


def open_smtp(
    settings: SmtpSettings,
    password: str,
    *,
    local_hostname: str = "sales-inbox.invalid",
    timeout: float = TIMEOUT,
) -> smtplib.SMTP:
    """A logged-in SMTP session over STARTTLS or implicit TLS (certificate and host name
    verified; SSL_CERT_FILE is honoured, which is how tests trust their CA)."""
    context = ssl.create_default_context()
    with smtp_errors("connecting"):
        if settings.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, local_hostname=local_hostname, timeout=timeout, context=context
            )
        else:
            client = smtplib.SMTP(
                settings.host, settings.port, local_hostname=local_hostname, timeout=timeout
            )
        try:
            client.ehlo()
            if settings.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            client.login(settings.login, password)
        except BaseException:
            client.close()
            raise
    return client


def verify_smtp(settings: SmtpSettings, password: str, *, timeout: float = TIMEOUT) -> None:
    """Log in once (connect time): raises the typed errors."""
    client = open_smtp(settings, password, timeout=timeout)
    with smtp_errors("logging out"):
        client.quit()


def find_smtp(imap_host: str, login: str, password: str) -> SmtpSettings:
    """The first guess that accepts the login; the last error when none does."""
    error: Exception | None = None
    for guess in guess_smtp(imap_host, login):
        try:
            verify_smtp(guess, password, timeout=GUESS_TIMEOUT)
        except ProviderAuthError:
            raise  # the server is right, the password is not: no point trying others
        except (ProviderTemporaryError, ProviderPermanentError) as exc:
            error = exc
            continue
        return guess
    raise ProviderPermanentError(f"No outgoing (SMTP) server found for {imap_host}: {error}")


def deliver(
    settings: SmtpSettings, password: str, request: SendRequest, checkpoint: Checkpoint
) -> dict[str, object]:
    """MAIL, RCPT for every recipient (one refused → none sent), then DATA. ``data_sent`` is
    committed before DATA and ``accepted`` after its 250: a broken line in between is the
    one moment nobody knows whether the server took it (``SendAmbiguous``)."""
    domain = request.envelope_from.rsplit("@", 1)[-1] or "sales-inbox.invalid"
    client = open_smtp(settings, password, local_hostname=domain)
    try:
        with smtp_errors("sending"):
            code, reply = client.mail(request.envelope_from)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, request.envelope_from)
            refused: dict[str, str] = {}
            for rcpt in request.recipients:
                code, reply = client.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = f"{code} {reply.decode(errors='replace')}"
            if refused:
                client.rset()
                first = next(iter(refused.items()))
                raise ProviderPermanentError(
                    f"The server refused {len(refused)} recipient(s), so nothing was sent "
                    f"(e.g. {first[0]}: {first[1]})."
                )
        checkpoint(SendStage.DATA_SENT)
        try:
            code, reply = client.data(request.raw)
        except smtplib.SMTPResponseException:
            checkpoint(SendStage.NONE)  # a definite refusal: it did not leave
            with smtp_errors("sending"):
                raise
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise SendAmbiguous(
                "The connection to the outgoing server broke while it was receiving the message, so "
                "it may have been sent. Check with the recipient, then Retry or Edit."
            ) from exc
        checkpoint(SendStage.ACCEPTED)
        return {"smtp": f"{code} {reply.decode(errors='replace')}".strip()}
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
