"""The marketplace API (the seed's paths, for the mobile app): published listings with Trendy's own evidence,
a creator's listings, creating a draft and sending it for review, taking a listing (free, or through the payment
provider's checkout), the trader's subscriptions with their receipts, cancelling one. Another user's draft or
subscription is a 404, like a missing one; no answer carries a listing's Pine source."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace import reviews, selectors, services, subscriptions
from marketplace.serializers import (
    ListingCreateSerializer,
    ListingDetailSerializer,
    ListingFilterSerializer,
    ListingSerializer,
    ReplySerializer,
    ReviewSerializer,
    ReviewWriteSerializer,
    SubscribeResultSerializer,
    SubscriptionSerializer,
)
from trading_site.api import ERROR

FILTERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description="in the name, the description or a tag"),
    OpenApiParameter(
        "category", OpenApiTypes.STR, enum=[c for c, _ in ListingFilterSerializer().fields["category"].choices.items()]
    ),
    OpenApiParameter("tier", OpenApiTypes.STR, enum=["free", "premium", "pro"]),
    OpenApiParameter("timeframe", OpenApiTypes.STR),
    OpenApiParameter("market", OpenApiTypes.STR, description="a market the listing names, e.g. BTC/USDT"),
    OpenApiParameter("price_max", OpenApiTypes.NUMBER, description="USD; free listings match"),
    OpenApiParameter("min_trades", OpenApiTypes.INT, description="trades on all stored candles"),
    OpenApiParameter("max_drawdown", OpenApiTypes.NUMBER, description="%, on all stored candles"),
    OpenApiParameter("min_oos_return", OpenApiTypes.NUMBER, description="%, out of sample"),
    OpenApiParameter("min_rating", OpenApiTypes.NUMBER, description="1 to 5"),
    OpenApiParameter("sort", OpenApiTypes.STR, enum=sorted(selectors.SORTS)),
]


class ListingListCreateApi(ListAPIView):
    serializer_class = ListingSerializer

    @extend_schema(operation_id="marketplace_strategy_list", parameters=FILTERS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        filters = ListingFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        values = dict(filters.validated_data)
        return selectors.listing_search(query=values.pop("q", ""), **values)

    @extend_schema(
        operation_id="marketplace_strategy_create",
        request=ListingCreateSerializer,
        responses={201: ListingDetailSerializer, 400: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = ListingCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        script = values.pop("script")
        listing = services.listing_create(
            creator=request.user, script_id=script, details=services.ListingDetails(**values)
        )
        found = selectors.listing_for(user=request.user, listing_id=listing.id)
        return Response(ListingDetailSerializer(found).data, status=status.HTTP_201_CREATED)


def _listing(request: Request, listing_id: Any) -> Any:
    listing = selectors.listing_for(user=request.user, listing_id=listing_id)
    if listing is None:
        raise Http404
    return listing


class ListingDetailApi(APIView):
    @extend_schema(operation_id="marketplace_strategy_detail", responses={200: ListingDetailSerializer, 404: ERROR})
    def get(self, request: Request, listing_id: Any) -> Response:
        return Response(ListingDetailSerializer(_listing(request, listing_id)).data)


class ListingSubmitApi(APIView):
    @extend_schema(
        operation_id="marketplace_strategy_submit",
        request=None,
        responses={200: ListingDetailSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request: Request, listing_id: Any) -> Response:
        listing = _listing(request, listing_id)
        if listing.creator_id != request.user.pk:
            raise Http404
        services.listing_submit(creator=request.user, listing_id=listing.id)
        return Response(ListingDetailSerializer(_listing(request, listing_id)).data)


class MyListingsApi(ListAPIView):
    serializer_class = ListingSerializer

    @extend_schema(operation_id="marketplace_my_strategies")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return selectors.listings_of(creator=self.request.user)


class ListingSubscribeApi(APIView):
    """Take a published listing: a free one at once; a premium or pro one answers the checkout URL to pay at
    (access opens when the payment provider reports the payment)."""

    @extend_schema(
        operation_id="marketplace_strategy_subscribe",
        request=None,
        responses={201: SubscribeResultSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request: Request, listing_id: Any) -> Response:
        listing = _listing(request, listing_id)
        site = request.build_absolute_uri(reverse("marketplace:subscriptions"))
        subscription, url = subscriptions.subscription_start(
            user=request.user, listing_id=listing.id, success_url=f"{site}?paid=1", cancel_url=site
        )
        if url and url.startswith("/"):
            url = request.build_absolute_uri(url)
        found = selectors.subscriptions_of(user=request.user).get(id=subscription.id)
        data = {"subscription": SubscriptionSerializer(found).data, "checkout_url": url}
        return Response(data, status=status.HTTP_201_CREATED)


class MySubscriptionsApi(ListAPIView):
    serializer_class = SubscriptionSerializer

    @extend_schema(operation_id="marketplace_my_subscriptions")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return selectors.subscriptions_of(user=self.request.user)


class SubscriptionCancelApi(APIView):
    @extend_schema(
        operation_id="marketplace_subscription_cancel",
        request=None,
        responses={200: SubscriptionSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request: Request, subscription_id: Any) -> Response:
        mine = selectors.subscriptions_of(user=request.user)
        if not mine.filter(id=subscription_id).exists():
            raise Http404
        subscriptions.subscription_cancel(user=request.user, subscription_id=subscription_id)
        return Response(SubscriptionSerializer(mine.get(id=subscription_id)).data)


class ListingReviewApi(APIView):
    """Your review of a listing: POST writes it (once: subscribers who held it a day or backtested it), PUT changes
    it. The listing's average and count follow."""

    @extend_schema(
        operation_id="marketplace_strategy_review",
        request=ReviewWriteSerializer,
        responses={201: ReviewSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request: Request, listing_id: Any) -> Response:
        return self._write(request, listing_id, reviews.review_create, status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="marketplace_strategy_review_update",
        request=ReviewWriteSerializer,
        responses={200: ReviewSerializer, 400: ERROR, 404: ERROR},
    )
    def put(self, request: Request, listing_id: Any) -> Response:
        return self._write(request, listing_id, reviews.review_update, status.HTTP_200_OK)

    def _write(self, request: Request, listing_id: Any, write: Any, code: int) -> Response:
        listing = _listing(request, listing_id)
        data = ReviewWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = write(user=request.user, listing_id=listing.id, **data.validated_data)
        return Response(ReviewSerializer(review).data, status=code)


class ListingReviewsApi(ListAPIView):
    serializer_class = ReviewSerializer

    @extend_schema(operation_id="marketplace_strategy_reviews", responses={200: ReviewSerializer(many=True)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        listing = _listing(self.request, self.kwargs["listing_id"])
        return selectors.reviews_of(listing=listing)


class ReviewReplyApi(APIView):
    @extend_schema(
        operation_id="marketplace_review_reply",
        request=ReplySerializer,
        responses={200: ReviewSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request: Request, review_id: Any) -> Response:
        if not selectors.review_of_creator(creator=request.user, review_id=review_id):
            raise Http404
        data = ReplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = reviews.review_reply(creator=request.user, review_id=review_id, text=data.validated_data["text"])
        return Response(ReviewSerializer(review).data)
