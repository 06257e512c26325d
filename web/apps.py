from django.apps import AppConfig


class WebConfig(AppConfig):
    """The HTML front: every page a rep or admin opens in a browser (views, URL maps, template
    tags). It may call inbox, sync, crm, accounts and api services and selectors; nothing
    imports it back."""

    name = "web"
