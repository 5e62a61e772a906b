"""Admin forms: checkboxes instead of raw JSON for layers and the diagram, and a Markdown
textarea that previews itself through htmx with the lesson page's own renderer."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from netlearn.core.diagram import LINKS, NODES

from .models import GlossaryTerm, Step
from .validation import lab_action_problems

LAYER_CHOICES = [
    (7, _("7 Application")), (6, _("6 Presentation")), (5, _("5 Session")), (4, _("4 Transport")),
    (3, _("3 Network")), (2, _("2 Data link")), (1, _("1 Physical")),
]


class MarkdownWidget(forms.Textarea):
    """A textarea followed by its live preview of exactly this field, in this field's language.

    htmx posts from inside the admin's form, and a POST from inside a form carries the whole
    form: the preview view then rendered the first body it found (step 1's English body in every
    preview). So the request names its field (``?field=steps-2-body_ko``, which also gives the
    language) and ``hx-params`` sends only that field's text; ``hx-sync`` drops an answer that a
    newer keystroke made stale. Inline rows added later get their real name in the admin's
    ``formset:added`` handler (templates/admin/base_site.html).
    """

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        base = {
            "rows": 12, "class": "md-source vLargeTextField",
            "hx-trigger": "input changed delay:300ms, load", "hx-sync": "this:replace",
            "hx-target": "next .md-preview", "hx-swap": "innerHTML",
        }
        super().__init__({**base, **(attrs or {})})

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        url = f"{reverse('lessons:preview')}?{urlencode({'field': name})}"
        textarea = super().render(name, value, {**(attrs or {}), "hx-post": url, "hx-params": name}, renderer)
        language = preview_language(name)
        return format_html('<div class="md-editor">{}<div class="md-preview prose" aria-live="polite" '
                           'lang="{}" aria-label="{}"></div></div>', textarea, language or "", _("Preview"))


def preview_language(field_name: str) -> str | None:
    """``en``/``ko`` for a Markdown body field (``body_ko``, ``steps-2-body_ko``), else None."""
    for language in ("en", "ko"):
        if field_name.endswith(f"body_{language}"):
            return language
    return None


class StepAdminForm(forms.ModelForm):
    layers = forms.TypedMultipleChoiceField(choices=LAYER_CHOICES, coerce=int, required=False,
                                            widget=forms.CheckboxSelectMultiple(attrs={"class": "layer-choices"}),
                                            label=_("OSI layers"))
    lit_nodes = forms.MultipleChoiceField(choices=[(n.id, n.id) for n in NODES], required=False,
                                          widget=forms.CheckboxSelectMultiple(attrs={"class": "id-choices"}),
                                          label=_("Lit nodes"))
    lit_links = forms.MultipleChoiceField(choices=[(link.id, link.id) for link in LINKS], required=False,
                                          widget=forms.CheckboxSelectMultiple(attrs={"class": "id-choices"}),
                                          label=_("Lit links"))

    class Meta:
        model = Step
        fields = ["number", "title_en", "title_ko", "body_en", "body_ko", "layers", "lab_action"]
        widgets = {"body_en": MarkdownWidget(), "body_ko": MarkdownWidget()}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        diagram = self.instance.diagram or {}
        self.fields["lit_nodes"].initial = diagram.get("nodes", [])
        self.fields["lit_links"].initial = diagram.get("links", [])

    def validate_unique(self) -> None:
        """Numbers may collide while steps are being reordered; the lesson admin renumbers."""

    def clean_lab_action(self) -> Any:
        value = self.cleaned_data.get("lab_action")
        problems = lab_action_problems(value, "lab_action")
        if problems:
            raise forms.ValidationError(problems)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self.instance.diagram = {"nodes": data.get("lit_nodes", []), "links": data.get("lit_links", [])}
        return data


class GlossaryTermAdminForm(forms.ModelForm):
    layers = forms.TypedMultipleChoiceField(choices=LAYER_CHOICES, coerce=int, required=False,
                                            widget=forms.CheckboxSelectMultiple(attrs={"class": "layer-choices"}),
                                            label=_("OSI layers"))

    class Meta:
        model = GlossaryTerm
        fields = ["term", "title_en", "title_ko", "body_en", "body_ko", "layers"]
        widgets = {"body_en": MarkdownWidget(), "body_ko": MarkdownWidget()}
