from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketplaceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"
    verbose_name = _("Marketplace")

    def ready(self) -> None:
        from marketplace.grants import SubscriberGrant
        from marketplace.selectors import studied_versions
        from strategies.pine_services import grant_register, study_register

        grant_register(SubscriberGrant())  # subscribers run the listings' script versions
        study_register(studied_versions)  # the regime evidence backtests the published listings too
