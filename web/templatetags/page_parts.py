"""``{% icon "name" %}`` and ``{% path "view" arg… %}``: the parts of every page that are the
same for every request, made once per process (issue 23: the base template's 20 icon
includes and 20 URL reversals were a tenth of an Inbox page's Python).

Both are template builtins (``config/settings.py``, ``TEMPLATES``): no ``{% load %}``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django import template
from django.template import Context, engines
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def icon(name: str) -> SafeString:
    """``templates/icons/<name>.svg`` as ``{% include %}`` puts it, rendered once per
    process (the cached loader's compiled template is the key: a file edited under the
    dev server's reloader is a new one)."""
    engine = engines["django"].engine  # type: ignore[attr-defined]
    return _rendered_icon(engine.get_template(f"icons/{name}.svg"))


@lru_cache(maxsize=128)
def _rendered_icon(compiled: Any) -> SafeString:
    return SafeString(compiled.render(Context()))


@register.simple_tag
def path(viewname: str, *args: Any) -> str:
    """What ``{% url viewname arg… %}`` gives, reversed once per process for each view and
    arguments (and URL prefix and URLconf: a request may have its own). For URLs that are
    the same for every user — the navigation's — not for per-row ids."""
    return _reversed(viewname, args, get_script_prefix(), get_urlconf())


@lru_cache(maxsize=256)
def _reversed(viewname: str, args: tuple[Any, ...], prefix: str, urlconf: str | None) -> str:
    return reverse(viewname, args=args or None, urlconf=urlconf)
