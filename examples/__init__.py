"""Example applications that use the authorization server from the outside, over HTTP only."""
