"""Admin formsets whose every input has an accessible name.

Why: Django's tabular inlines and the change list's editable columns show a field's label once,
as a column header, and render the inputs without a ``<label>``: a screen reader announces
"edit text" with no name, and axe reports every one of them as critical. Naming each input
after its column and row ("Text (Korean), row 2") fixes that without changing how the table
looks. Mix :class:`LabelledFormSetMixin` into a formset class, or use the ready classes below.
"""

from __future__ import annotations

from typing import Any

from django.forms.models import BaseInlineFormSet, BaseModelFormSet
from django.utils.translation import gettext as _


class LabelledFormSetMixin:
    """Gives each visible field of each form an ``aria-label``: its label and the form's row."""

    def add_fields(self, form: Any, index: int | None) -> None:
        super().add_fields(form, index)  # type: ignore[misc]  # adds DELETE/ORDER: name those too
        row = _("new row") if index is None else _("row %(n)d") % {"n": index + 1}
        for field in form.fields.values():
            if not field.widget.is_hidden:
                field.widget.attrs.setdefault("aria-label", f"{field.label}, {row}")


class LabelledInlineFormSet(LabelledFormSetMixin, BaseInlineFormSet):
    """For tabular inlines (``formset = LabelledInlineFormSet``)."""


class LabelledModelFormSet(LabelledFormSetMixin, BaseModelFormSet):
    """For a change list with ``list_editable`` (``get_changelist_formset(..., formset=...)``)."""


class LabelledChangeListMixin:
    """For a ``ModelAdmin`` with ``list_editable``: the editable cells get names too."""

    def get_changelist_formset(self, request: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("formset", LabelledModelFormSet)
        return super().get_changelist_formset(request, **kwargs)  # type: ignore[misc]
