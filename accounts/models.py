from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils import timezone

from accounts.plans import Plan  # the plans and what each allows live in accounts.plans

__all__ = ["Company", "Plan", "Role", "Team", "User"]


class Company(models.Model):
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.GROWTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name

    @property
    def has_email_sync(self) -> bool:
        """Whether the plan policy (accounts.plans) gives this company email sync."""
        from accounts.plans import has_email_sync

        return has_email_sync(self)


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    REGULAR = "regular", "Regular user"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("Users need an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", Role.ADMIN)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an e-mail address and belongs to one company."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="users", null=True, blank=True
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.REGULAR)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # IANA name ("Europe/Stockholm"); every date in pages and the API's local fields is shown
    # in it. Empty until the browser tells it at the first sign-in (UTC until then).
    time_zone = models.CharField(max_length=64, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def is_company_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def company_pk(self) -> int:
        """The company's id, for code that acts for a member of a company (every user but a
        bare superuser): one without a company may not act, rather than fail half-way."""
        if self.company_id is None:
            raise PermissionDenied(f"{self.email} belongs to no company.")
        return self.company_id

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return (self.name or self.email).split(" ")[0]


class Team(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(User, related_name="teams", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="team_name_unique")]

    def __str__(self) -> str:
        return self.name
