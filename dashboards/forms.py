"""The dashboard's filters, read from the query string."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from detector.models import Collection

from .filters import DashboardFilters
from .selectors import model_version_names


class DashboardFilterForm(forms.Form):
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    collection = forms.ModelChoiceField(
        label=_("Collection"), queryset=Collection.objects.order_by("name", "id"), required=False,
        empty_label=_("All collections"),
    )
    model_version = forms.ChoiceField(label=_("Model version"), required=False)
    per = forms.ChoiceField(
        label=_("Throughput per"), required=False, choices=[("day", _("day")), ("week", _("week"))]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_version"].choices = [("", _("All versions"))] + [(v, v) for v in model_version_names()]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The start date must not be after the end date."), code="date_order")
        return data

    def filters(self) -> DashboardFilters:
        data = self.cleaned_data
        return DashboardFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            collection_id=data["collection"].pk if data.get("collection") else None,
            model_version=data.get("model_version") or "",
            per=data.get("per") or "day",
        )
