from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _


class SignUpForm(UserCreationForm):
    """Username and password; an e-mail address is optional but needed for password reset."""

    email = forms.EmailField(label=_("E-mail (optional, for password reset)"), required=False)

    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]  # django-stubs omits the Meta
        fields = ("username", "email")
