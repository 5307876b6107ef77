"""allauth hooks: where a signed-in trader lands, e-mail that names Trendy, TOTP secrets and recovery-code seeds
sealed with our keyring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.mfa.adapter import DefaultMFAAdapter
from django.http import HttpRequest
from django.urls import reverse

from accounts import secrets, sign_in_limits
from accounts.models import RiskProfile

PRODUCT_NAME = "Trendy"


@dataclass(frozen=True)
class ProductSite:
    """What allauth's e-mail templates call ``current_site``: the product's name (not the host it was reached
    on, as the request-based site would say) and the host, which the links in the e-mail use."""

    name: str
    domain: str


def product_site(request: HttpRequest | None) -> ProductSite:
    return ProductSite(name=PRODUCT_NAME, domain=request.get_host() if request is not None else "")


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: Any, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            RiskProfile.objects.get_or_create(user=user)
        return user

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """A new trader (no exchange account or bot, wizard neither finished nor dismissed) lands in the
        onboarding wizard; everyone else where they always did. An explicit ``?next=`` still wins (allauth
        asks this only without one)."""
        from onboarding.services import needs_onboarding  # onboarding depends on accounts, not the reverse

        if request.user.is_authenticated and needs_onboarding(user=request.user):
            return reverse("onboarding:start")
        return super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        if request.user.is_authenticated:
            return self.get_login_redirect_url(request)
        return super().get_signup_redirect_url(request)

    # Sign-in attempts: ``accounts.sign_in_limits`` (one policy for this login and the API's token endpoint)
    # replaces allauth's own "login_failed" limit (switched off in settings).

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        login = credentials.get("email", credentials.get("username", "")) or ""
        self._sign_in_attempt = sign_in_limits.attempt(login=login, ip=sign_in_limits.request_ip(request))
        if not self._sign_in_attempt.allowed:
            raise self.validation_error("too_many_login_attempts")

    def _rollback_login_failed_rl_usage(self) -> None:
        """allauth calls this after a right password: give the attempt back, remember the address."""
        attempt = getattr(self, "_sign_in_attempt", None)
        if attempt is not None:
            attempt.succeeded()

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        request = allauth_context.request
        ctx = {"request": request, "email": email, **context, "current_site": product_site(request)}
        self.render_mail(template_prefix, email, ctx).send()


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return secrets.encrypt(text, context=secrets.MFA_CONTEXT)

    def decrypt(self, encrypted_text: str) -> str:
        return secrets.decrypt(encrypted_text, context=secrets.MFA_CONTEXT)
