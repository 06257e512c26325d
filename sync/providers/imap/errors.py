"""What an IMAP server's refusals mean: the typed provider errors (sync/errors.py) that decide
retries — temporary (back off), authentication (needs re-authentication), permanent.

LOGIN is where getting this wrong hurts most: "needs re-authentication" stops every pull and
holds every push until a person reconnects the mailbox, so it is kept for answers that really
are about the credentials:

* a response code that says so (RFC 5530 ``[AUTHENTICATIONFAILED]``, ``[AUTHORIZATIONFAILED]``,
  ``[EXPIRED]``, ``[PRIVACYREQUIRED]``, ``[CONTACTADMIN]``) → re-authentication;
* a code that says "not now" (``[UNAVAILABLE]``, ``[INUSE]``, ``[LIMIT]``, ``[SERVERBUG]``,
  ``[THROTTLED]``, ``[ALERT]`` — Gmail's "Too many simultaneous connections" comes as
  ``[ALERT]``), or a connection dropped during LOGIN → temporary, back off. An ``[ALERT]`` that
  talks about the password or credentials (Gmail's "Application-specific password required")
  is about the credentials, so → re-authentication;
* no code at all — our decision: words of a refused password ("invalid", "password",
  "credentials", "authentication failed", "login failed", "incorrect") → re-authentication
  (Exchange answers a wrong password with a bare ``NO LOGIN failed.``); anything else (a busy
  server, a BAD) → temporary with backoff. Each temporary refusal is recorded on the account
  (``last_sync_error``) and shown on the mailbox status page at once, so one that keeps coming
  back is visible rather than silently retried.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from imapclient.exceptions import CapabilityError, IMAPClientAbortError, IMAPClientError, LoginError

from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.mime import clean_text

# Response codes (RFC 5530 and common extensions) that mean "try again later", not "never".
TEMPORARY_CODES = ("[UNAVAILABLE]", "[INUSE]", "[SERVERBUG]", "[LIMIT]", "[EXPUNGEISSUED]", "[THROTTLED]")
# At LOGIN also [ALERT]: Gmail's "too many simultaneous connections" and similar notices.
LOGIN_TEMPORARY_CODES = (*TEMPORARY_CODES, "[ALERT]")
AUTH_CODES = (
    "[AUTHENTICATIONFAILED]",
    "[AUTHORIZATIONFAILED]",
    "[EXPIRED]",
    "[PRIVACYREQUIRED]",
    "[CONTACTADMIN]",
)
# Words of a refused password in a code-less (or [ALERT]) answer.
_AUTH_WORDS = re.compile(
    r"invalid|password|credential|authenticat\w* failed|log ?in failed|incorrect|bad user|unknown user",
    re.IGNORECASE,
)
_TEMPORARY_WORDS = re.compile(
    r"too many (simultaneous )?connections|try again|temporar|throttl|rate limit|busy", re.IGNORECASE
)


def login_refusal_is_temporary(text: str, *, dropped: bool = False) -> bool:
    """Whether a refused LOGIN (its answer's text) should back off rather than ask the user
    to reconnect; see the module docstring for the rule."""
    upper = text.upper()
    if dropped:
        return True
    if any(code in upper for code in AUTH_CODES):
        return False
    if "[ALERT]" in upper and _AUTH_WORDS.search(text) and not _TEMPORARY_WORDS.search(text):
        return False
    if any(code in upper for code in LOGIN_TEMPORARY_CODES):
        return True
    if _TEMPORARY_WORDS.search(text):
        return True
    return not _AUTH_WORDS.search(text)


@contextmanager
def imap_errors(doing: str) -> Iterator[None]:
    """Turn what imapclient, imaplib, ssl and socket raise into the typed provider errors."""
    try:
        yield
    except LoginError as exc:
        text = _text(exc)
        # imapclient turns *every* error during LOGIN into LoginError, a dropped connection
        # (the server restarting) included: that is no refused password.
        dropped = isinstance(exc.__context__, (IMAPClientAbortError, OSError))
        if login_refusal_is_temporary(text, dropped=dropped):
            raise ProviderTemporaryError(
                f"IMAP login temporarily refused while {doing} (will retry): {text}"
            ) from exc
        raise ProviderAuthError(f"The IMAP server refused the login: {text}") from exc
    except IMAPClientAbortError as exc:  # BYE or a dropped connection (imaplib.IMAP4.abort)
        raise ProviderTemporaryError(f"The IMAP connection was closed while {doing}: {_text(exc)}") from exc
    except CapabilityError as exc:
        raise ProviderPermanentError(f"The IMAP server lacks a needed capability: {_text(exc)}") from exc
    except IMAPClientError as exc:  # a NO or BAD answer (imaplib.IMAP4.error)
        text = _text(exc)
        if is_temporary_refusal(exc):
            raise ProviderTemporaryError(f"The IMAP server is busy ({doing}): {text}") from exc
        raise ProviderPermanentError(f"The IMAP server refused ({doing}): {text}") from exc
    except TimeoutError as exc:
        raise ProviderTemporaryError(f"The IMAP server timed out while {doing}.") from exc
    except ssl.SSLError as exc:
        raise ProviderTemporaryError(f"TLS failed while {doing}: {exc}") from exc
    except OSError as exc:  # refused, reset, unreachable, DNS
        raise ProviderTemporaryError(f"Could not reach the IMAP server while {doing}: {exc}") from exc


def is_temporary_refusal(exc: Exception) -> bool:
    """A NO/BAD after login that means "not now" (retry the whole batch later) — or a BYE
    greeting: imaplib raises a plain error, not an abort, for a server that answers a new
    connection with ``* BYE`` (Dovecot "Shutting down", a server at its connection limit)."""
    text = _text(exc).upper()
    return any(code in text for code in TEMPORARY_CODES) or text.lstrip("* ").startswith("BYE")


def _text(exc: BaseException) -> str:
    return clean_text(" ".join(str(a.decode() if isinstance(a, bytes) else a) for a in exc.args) or repr(exc))
