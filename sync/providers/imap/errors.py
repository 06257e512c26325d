"""What an IMAP server's refusals mean: the typed provider errors (sync/errors.py) that decide
retries — temporary (back off), authentication (needs re-authentication), permanent."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from imapclient.exceptions import CapabilityError, IMAPClientAbortError, IMAPClientError, LoginError

from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.mime import clean_text

TEMPORARY_CODES = ("[UNAVAILABLE]", "[INUSE]", "[SERVERBUG]", "[LIMIT]", "[EXPUNGEISSUED]")


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
        if dropped or any(code in text for code in TEMPORARY_CODES):
            raise ProviderTemporaryError(f"IMAP login temporarily refused while {doing}: {text}") from exc
        raise ProviderAuthError(f"The IMAP server refused the login: {text}") from exc
    except IMAPClientAbortError as exc:  # BYE or a dropped connection (imaplib.IMAP4.abort)
        raise ProviderTemporaryError(f"The IMAP connection was closed while {doing}: {_text(exc)}") from exc
    except CapabilityError as exc:
        raise ProviderPermanentError(f"The IMAP server lacks a needed capability: {_text(exc)}") from exc
    except IMAPClientError as exc:  # a NO or BAD answer (imaplib.IMAP4.error)
        text = _text(exc)
        if any(code in text for code in TEMPORARY_CODES):
            raise ProviderTemporaryError(f"The IMAP server is busy ({doing}): {text}") from exc
        raise ProviderPermanentError(f"The IMAP server refused ({doing}): {text}") from exc
    except TimeoutError as exc:
        raise ProviderTemporaryError(f"The IMAP server timed out while {doing}.") from exc
    except ssl.SSLError as exc:
        raise ProviderTemporaryError(f"TLS failed while {doing}: {exc}") from exc
    except OSError as exc:  # refused, reset, unreachable, DNS
        raise ProviderTemporaryError(f"Could not reach the IMAP server while {doing}: {exc}") from exc


def is_temporary_refusal(exc: Exception) -> bool:
    return any(code in _text(exc) for code in TEMPORARY_CODES)


def _text(exc: BaseException) -> str:
    return clean_text(" ".join(str(a.decode() if isinstance(a, bytes) else a) for a in exc.args) or repr(exc))
