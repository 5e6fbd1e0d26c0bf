from authserver import create_app


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_a_reachable_database(client):
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": "postgresql+psycopg://127.0.0.1:1/nothing",
            "SECRET_KEY": "x" * 32,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_public_issuer_must_use_https_and_a_set_secret_key(tmp_path):
    import pytest

    with pytest.raises(RuntimeError, match="https"):
        create_app({"ISSUER": "http://auth.example.com", "INSTANCE_PATH": str(tmp_path)})
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"ISSUER": "https://auth.example.com", "INSTANCE_PATH": str(tmp_path)})
