"""Forms; every one carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError


class ActionForm(FlaskForm):
    """A button that changes something (sign in, log out, delete): only the CSRF token."""


class EventForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    starts_at = DateTimeLocalField(
        "Starts (UTC)", format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    ends_at = DateTimeLocalField("Ends (UTC)", format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    description = TextAreaField("Notes", validators=[Optional(), Length(max=2000)])

    def validate_ends_at(self, field: DateTimeLocalField) -> None:
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError("The end must come after the start.")
