"""``{% load wording %}`` — the confirmation sentences of web/wording.py as filters."""

from django import template

from web import wording

register = template.Library()
register.filter("delete_sentence", wording.delete_sentence)
register.filter("message_delete_sentence", wording.message_delete_sentence)
