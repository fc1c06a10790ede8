from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Decision


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Your decision"), choices=Decision.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required when you disagree with the model."),
    )
