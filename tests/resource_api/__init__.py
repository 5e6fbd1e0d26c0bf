"""Tests of the resource API (``resource_api/``), against a fake issuer reached in-process."""
