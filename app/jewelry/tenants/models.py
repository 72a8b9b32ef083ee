from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from jewelry.core.tenancy import TenantOwned


class Tenant(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    currency = models.CharField(max_length=3, default="USD")
    # Rows the seed generated carry its marker, so `seed --reset` removes only those.
    generated_by = models.CharField(max_length=40, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class EmailUserManager(UserManager):
    def create_user(self, email, password=None, **extra_fields):  # type: ignore[override]
        extra_fields.setdefault("username", email)
        return super().create_user(email=email, password=password, **extra_fields)


class User(AbstractUser):
    class Role(models.TextChoices):
        OWNER = "owner"
        MANAGER = "manager"
        CASHIER = "cashier"

    email = models.EmailField(unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users", null=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CASHIER)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    objects = EmailUserManager()


class Branch(TenantOwned):
    name = models.CharField(max_length=120)
    code = models.CharField(max_length=20)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="branch_code_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class Terminal(TenantOwned):
    branch = models.ForeignKey(Branch, on_delete=models.CASCADE, related_name="terminals")
    code = models.CharField(max_length=20)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="terminal_code_per_tenant")
        ]

    def __str__(self) -> str:
        return self.code
