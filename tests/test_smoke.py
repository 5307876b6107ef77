def test_home_renders(client, db):
    response = client.get("/")
    assert response.status_code == 200
