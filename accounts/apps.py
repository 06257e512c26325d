from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's "account" app is also called "Accounts" in the admin: two sections looked alike.
    verbose_name = "Company and users"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the receivers)
