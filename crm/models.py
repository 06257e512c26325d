from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from accounts.models import Company


class CompanyOwned(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Organization(CompanyOwned):
    name = models.CharField(max_length=255)
    domain = models.CharField(max_length=255, blank=True)
    address = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["company", "name"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("crm:organization", args=[self.pk])


class Person(CompanyOwned):
    name = models.CharField(max_length=255)
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="persons"
    )
    phone = models.CharField(max_length=50, blank=True)

    class Meta:
        indexes = [models.Index(fields=["company", "name"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("crm:person", args=[self.pk])

    @property
    def primary_email(self) -> str:
        first = self.emails.order_by("-primary", "id").first()
        return first.email if first else ""


class PersonEmail(models.Model):
    """A person may be written to from several addresses; any of them links the mail."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField()
    primary = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint("company", Lower("email"), name="person_email_unique_per_company")
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class DealStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Deal(CompanyOwned):
    title = models.CharField(max_length=255)
    value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    status = models.CharField(max_length=10, choices=DealStatus.choices, default=DealStatus.OPEN)
    person = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals")
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )

    class Meta:
        indexes = [models.Index(fields=["company", "status"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("crm:deal", args=[self.pk])


class Lead(CompanyOwned):
    title = models.CharField(max_length=255)
    person = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads")
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    is_archived = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("crm:lead", args=[self.pk])


class Project(CompanyOwned):
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, default="open")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("crm:project", args=[self.pk])
