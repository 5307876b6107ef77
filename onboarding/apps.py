from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnboardingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "onboarding"
    verbose_name = _("Onboarding")

    def ready(self) -> None:
        # The dashboard offers to resume a wizard left half-way (trading never imports onboarding).
        from onboarding.services import resume_link
        from trading.dashboard import selectors as dashboard

        if resume_link not in dashboard.RESUME_SOURCES:
            dashboard.RESUME_SOURCES.append(resume_link)
