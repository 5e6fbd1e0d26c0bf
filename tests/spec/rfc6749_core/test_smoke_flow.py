from tests.helpers import exchange_code, get_code, refresh


def test_code_flow_issues_tokens_and_refreshes(app, logged_in, confidential_client):
    code, query = get_code(logged_in, confidential_client)
    assert query["state"] == "state-123"
    response = exchange_code(logged_in, confidential_client, code)
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile offline_access events:read"
    again = refresh(logged_in, confidential_client, body["refresh_token"])
    assert again.status_code == 200, again.data
