"""What the schemathesis run found, one test each: the schema documents every error answer in the one error
shape, types the pagination right, says which money fields may be null, and the server refuses what the schema
refuses (instead of a silent default) and answers JSON for any path under /api/v1/."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and error["message"]
    if field:
        assert field in error["fields"]
    return error


def test_every_operation_documents_its_error_answers_in_the_one_shape(schema):
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for status in ("401", "403", "413", "429"):
                assert status in responses, f"{method.upper()} {path} does not document {status}"
            if operation.get("parameters") or "requestBody" in operation:
                assert "400" in responses, f"{method.upper()} {path} does not document 400"
            if "{" in path:
                assert "404" in responses, f"{method.upper()} {path} does not document 404"
            for status, response in responses.items():
                if status[0] in "45":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", f"{method.upper()} {path} {status}"


def test_idempotent_writes_document_409_and_422(schema):
    operation = schema["paths"]["/api/v1/bots/{bot_id}/stop/"]["post"]
    assert {"409", "422"} <= set(operation["responses"])


def test_page_and_page_size_are_typed_with_their_range(schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/bots/"]["get"]["parameters"]}
    assert parameters["page"] == {"type": "integer", "minimum": 1}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 500}


def test_money_fields_of_nullable_columns_are_nullable(schema):
    position = schema["components"]["schemas"]["Position"]["properties"]
    for name in ("stop_loss", "take_profit", "liquidation_price", "mark_price", "exit_price", "realized_pnl"):
        assert position[name].get("nullable") is True, name
    assert "nullable" not in position["amount"]
    order = schema["components"]["schemas"]["Order"]["properties"]
    assert order["price"].get("nullable") is True


def test_request_bodies_are_documented_as_json_only(schema):
    body = schema["paths"]["/api/v1/me/"]["patch"]["requestBody"]["content"]
    assert list(body) == ["application/json"]


@pytest.mark.parametrize(
    "query", ["page_size=0", "page_size=501", "page_size=abc", "page_size=2.5", "page=0", "page=x"]
)
def test_a_bad_page_or_page_size_is_a_400_not_a_silent_default(alice_api, query):
    _error(alice_api.get(f"/api/v1/bots/?{query}"), 400, query.split("=")[0])


def test_a_good_page_size_is_used(alice_api):
    response = alice_api.get("/api/v1/bots/?page=1&page_size=500")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/bots/abc/", "/api/v1/positions/null,null/", "/api/v1/no-such-thing/"])
def test_any_other_api_path_is_a_json_404(alice_api, path):
    _error(alice_api.get(path), 404)
    _error(alice_api.post(path, {}, format="json"), 404)


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_booleans_in_a_json_body_are_true_or_false(alice_api, value):
    _error(alice_api.post("/api/v1/auto-trading/", {"enabled": value}, format="json"), 400, "enabled")


def test_a_form_post_keeps_the_usual_boolean_spellings(alice_api):
    response = alice_api.post("/api/v1/auto-trading/", {"enabled": "false"}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json() == {"enabled": False}


@pytest.mark.parametrize("query", ["status=", "outcome=", "until="])
def test_a_filter_sent_empty_is_refused(alice_api, query):
    path = "/api/v1/webhooks/events/" if query != "status=" else "/api/v1/orders/"
    _error(alice_api.get(f"{path}?{query}"), 400, query[:-1])
