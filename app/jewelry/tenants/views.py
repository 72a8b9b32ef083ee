"""Session sign-in and sign-out for the HTML pages, with Redis-backed login throttling."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from jewelry.tenants import throttle
from jewelry.tenants.forms import LoginForm


class LoginView(auth_views.LoginView):
    """Django's LoginView (CSRF-protected, never cached) plus throttling per account and IP."""

    template_name = "tenants/login.html"
    authentication_form = LoginForm

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        username = request.POST.get("username", "")
        ip = throttle.client_ip(request)
        block = throttle.blocked(username=username, ip=ip)
        if block is not None:
            # Refused before the password is looked at: a blocked attempt costs no Argon2 hash.
            # Unbound: rendering a bound form's errors would run the password check after all.
            form = self.get_form_class()(request, initial={"username": username[:254]})
            response = self.render_to_response(
                self.get_context_data(form=form, throttle_message=block.message), status=429
            )
            response["Retry-After"] = str(block.retry_after_seconds)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        throttle.clear_account(username=form.cleaned_data["username"])
        return super().form_valid(form)

    def form_invalid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        throttle.record_failure(
            username=self.request.POST.get("username", ""), ip=throttle.client_ip(self.request)
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule since 5.0): a link or prefetch cannot sign anyone out."""

    next_page = "/accounts/login/"
