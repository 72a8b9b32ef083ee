"""The sign-in form: Django's AuthenticationForm (e-mail as `username`), shop users only."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from jewelry.tenants.models import User


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Wrong e-mail or password.",
        "no_shop": "This account does not belong to a shop, so it cannot use these pages.",
    }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["username"].label = "E-mail"
        self.fields["username"].widget.attrs["autocomplete"] = "email"

    def confirm_login_allowed(self, user: User) -> None:  # type: ignore[override]
        super().confirm_login_allowed(user)
        # Every page is scoped to the user's tenant; a tenant-less account would hit no scope.
        if user.tenant_id is None:
            raise forms.ValidationError(self.error_messages["no_shop"], code="no_shop")
