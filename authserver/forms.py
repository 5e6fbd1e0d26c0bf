"""Server-rendered forms; Flask-WTF adds and checks the ``csrf_token`` field of each."""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import SUBMIT_METHODS
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from .scopes import CATALOGUE
from .services.clients import GRANT_TYPES


class Form(FlaskForm):
    """Our HTML forms read form-encoded bodies only.

    Flask-WTF would read a JSON body too, and crash on one that is not an object (``false``) at
    the CSRF-exempt logout endpoint; no page of ours posts JSON.
    """

    def __init__(self, **kwargs: object) -> None:
        if "formdata" not in kwargs:
            submitted = request.method in SUBMIT_METHODS and bool(request.form)
            kwargs["formdata"] = request.form if submitted else None
        super().__init__(**kwargs)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class SignupForm(Form):
    name = StringField("Name", validators=[Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class ForgotPasswordForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])


class ResetPasswordForm(Form):
    token = HiddenField(validators=[DataRequired(), Length(max=200)])
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1000)])


class ChangePasswordForm(Form):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=1000)]
    )
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1000)])


# Each form of /account/security names its password field apart: one page, unique ids.
class ChangeEmailForm(Form):
    email = EmailField("New email address", validators=[DataRequired(), Length(max=320)])
    email_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=1000)]
    )


class DeleteAccountForm(Form):
    delete_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=1000)]
    )


class ConfirmPasswordForm(Form):
    """The current password again, before removing a second factor or making new recovery
    codes (a session alone is not enough to weaken the account)."""

    password = PasswordField("Current password", validators=[DataRequired(), Length(max=1000)])


class LogoutForm(Form):
    revoke_tokens = BooleanField("Also disconnect the apps I signed in to during this session")
    everywhere = BooleanField("Log out on every device and browser, not only this one")


class ActionForm(Form):
    """A button that changes something: nothing but the CSRF token."""


class DeviceCodeForm(Form):
    """The device page: the code the device shows (RFC 8628 §3.3)."""

    user_code = StringField(
        "Code shown on your device",
        validators=[DataRequired(), Length(max=40)],
        description="8 letters, like BCDF-GHJK; upper or lower case, with or without the dash.",
    )


GRANT_TYPE_LABELS = {
    "authorization_code": "Authorization code (users sign in through your app)",
    "refresh_token": "Refresh tokens (stay connected without asking again; needs the "
    "offline_access scope, which people grant on the consent page)",
    "client_credentials": "Client credentials (your server acts for itself)",
    "urn:ietf:params:oauth:grant-type:device_code": (
        "Device code (a TV or command line; the user signs in on another device)"
    ),
    "urn:ietf:params:oauth:grant-type:token-exchange": (
        "Token exchange (your API trades a token it received for one to call the next API)"
    ),
}


class ClientForm(Form):
    name = StringField("Application name", validators=[DataRequired(), Length(max=120)])
    redirect_uris = TextAreaField(
        "Redirect URIs",
        description="One per line. https, or http on 127.0.0.1, [::1] or localhost.",
        validators=[Length(max=20000)],
    )
    post_logout_redirect_uris = TextAreaField(
        "Post-logout redirect URIs (optional)",
        description="Where people may be sent after logging out from your app (OpenID Connect "
        "RP-initiated logout). One per line.",
        validators=[Length(max=20000)],
    )
    backchannel_logout_uri = StringField(
        "Back-channel logout URI (optional)",
        description="Where this server POSTs a signed logout_token when someone who signed in "
        "to your app logs out here (OpenID Connect Back-Channel Logout). https, or http on "
        "127.0.0.1, [::1] or localhost.",
        validators=[Length(max=2000)],
    )
    dpop_bound_access_tokens = BooleanField(
        "Require DPoP: every token request carries a DPoP proof, so stolen tokens are useless "
        "without the app's key (RFC 9449)"
    )
    scopes = MultiCheckboxField(
        "Scopes",
        choices=[SelectChoice(s.name, f"{s.name} — {s.description}") for s in CATALOGUE.values()],
    )
    grant_types = MultiCheckboxField(
        "Grant types", choices=[SelectChoice(g, GRANT_TYPE_LABELS[g]) for g in GRANT_TYPES]
    )
    client_type = RadioField(
        "Client type",
        choices=[
            SelectChoice("confidential", "Confidential — runs on a server that can keep a secret"),
            SelectChoice("public", "Public — a mobile, desktop or single-page app (PKCE)"),
        ],
        default="confidential",
    )
    auth_method = RadioField(
        "How a confidential client authenticates",
        choices=[
            SelectChoice("client_secret_basic", "With a client secret (HTTP Basic or the form)"),
            SelectChoice(
                "private_key_jwt", "With a JWT signed by its private key (private_key_jwt)"
            ),
            SelectChoice(
                "client_secret_jwt", "With a JWT signed with its client secret (client_secret_jwt)"
            ),
        ],
        default="client_secret_basic",
    )
    jwks = TextAreaField(
        "Public keys (JWK Set, for private_key_jwt)",
        description='A JSON object {"keys": [...]} of public keys only; or give a URL below.',
        validators=[Length(max=50000)],
    )
    jwks_uri = StringField(
        "Public keys URL (jwks_uri, for private_key_jwt)",
        description="An https URL serving your JWK Set, fetched when your assertions need it.",
        validators=[Length(max=2000)],
    )


class CodeForm(Form):
    """A second factor, typed: an authenticator's 6 digits or a recovery code (SPEC: ``code``)."""

    code = StringField(
        "Code",
        description="The 6-digit code from your authenticator app, or one of your recovery codes.",
        validators=[DataRequired(), Length(max=40)],
    )
