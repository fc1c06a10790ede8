from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Decision, ReasonCode


class _StableIdsMixin:
    """Each option gets the id and data-testid ``<prefix>-<value>`` (for labels, keys and tests)."""

    id_prefix = ""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        option["attrs"]["id"] = f"{self.id_prefix}-{value}"
        option["attrs"]["data-testid"] = f"{self.id_prefix}-{value}"
        return option


class DecisionRadioSelect(_StableIdsMixin, forms.RadioSelect):
    id_prefix = "decision"


class ReasonCheckboxes(_StableIdsMixin, forms.CheckboxSelectMultiple):
    id_prefix = "reason"


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Your decision"), choices=Decision.choices, widget=DecisionRadioSelect)
    reason_codes = forms.MultipleChoiceField(
        label=_("Reasons (optional)"),
        choices=ReasonCode.choices,
        required=False,
        widget=ReasonCheckboxes,
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "id": "decision-note", "data-testid": "decision-note"}),
        help_text=_("Required when you disagree with the model, or with the reason “Other”."),
    )


class RequeueForm(forms.Form):
    reason = forms.CharField(
        label=_("Why re-open this case?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "id": "requeue-reason", "data-testid": "requeue-reason"}),
    )
