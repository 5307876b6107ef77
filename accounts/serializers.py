from __future__ import annotations

from rest_framework import serializers

from accounts.models import RiskProfile, User


class RiskProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskProfile
        fields = ["leverage", "position_size_pct", "stop_loss_pct", "take_profit_pct", "max_drawdown_pct", "updated_at"]
        read_only_fields = ["updated_at"]


class MeSerializer(serializers.ModelSerializer):
    risk_profile = RiskProfileSerializer(read_only=True)
    two_factor_enabled = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "timezone", "date_joined", "two_factor_enabled", "risk_profile"]
        read_only_fields = fields

    def get_two_factor_enabled(self, user: User) -> bool:
        return user.authenticator_set.filter(type="totp").exists()
