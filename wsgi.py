"""WSGI entry points: ``gunicorn wsgi:auth_app`` and ``gunicorn wsgi:api_app``."""

import authserver
import resource_api

auth_app = authserver.create_app()
api_app = resource_api.create_app()
