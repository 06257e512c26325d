"""One adapter module per provider behind the interface in ``base``; the rest of the code
asks ``adapter_for(account)`` and never branches on the provider."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from inbox.models import MailAccount
from sync.errors import ProviderPermanentError
from sync.providers.base import ProviderAdapter


def adapter_for(account: MailAccount) -> ProviderAdapter:
    path = settings.SYNC_ADAPTERS.get(account.provider)
    if path is None:
        raise ProviderPermanentError(f"No adapter for provider {account.provider!r}.")
    adapter_class = import_string(path)
    return adapter_class(account)
