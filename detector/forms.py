from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Collection
from .selectors import collections_open_for_submission


class SubmitImageForm(forms.Form):
    """Either a file or a web link, never both."""

    image = forms.FileField(label=_("Image file"), required=False)
    url = forms.CharField(
        label=_("…or a web link to an image"),
        required=False,
        max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    collection = forms.ModelChoiceField(
        label=_("Collection (optional)"),
        queryset=None,
        required=False,
        empty_label=_("None"),
        help_text=_("A contest round or an assignment; its policy decides who sees what and when."),
    )
    note = forms.CharField(
        label=_("Note for reviewers (optional)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collection"].queryset = collections_open_for_submission()
        if not self.fields["collection"].queryset.exists():
            del self.fields["collection"]

    def clean(self):
        cleaned = super().clean()
        image, url = cleaned.get("image"), (cleaned.get("url") or "").strip()
        if image and url:
            raise forms.ValidationError(_("Give either a file or a web link, not both."), code="both_given")
        if not image and not url:
            raise forms.ValidationError(_("Choose an image file or paste a web link."), code="nothing_given")
        if image and image.size > settings.AIORNOT_MAX_UPLOAD_BYTES:
            self.add_error(
                "image",
                forms.ValidationError(
                    _("The file is %(size).1f MB; the limit is %(limit).1f MB."),
                    code="file_too_large",
                    params={"size": image.size / 1e6, "limit": settings.AIORNOT_MAX_UPLOAD_BYTES / 1e6},
                ),
            )
        cleaned["url"] = url
        return cleaned


class CollectionForm(forms.ModelForm):
    """What an admin sets on a collection; the view hands the cleaned data to the services."""

    class Meta:
        model = Collection
        fields = ["name", "policy", "description", "deadline", "second_opinion", "review_every_entry", "is_open"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "deadline": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        }
        labels = {
            "is_open": _("Open for submissions"),
            "second_opinion": _("Second opinion"),
            "review_every_entry": _("Review every entry"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["second_opinion"].widget.choices = [
            ("unknown", _("Policy default (on for art contests)")),
            ("true", _("On: an AI label needs two agreeing reviewers")),
            ("false", _("Off")),
        ]
        self.fields["review_every_entry"].widget.choices = [
            ("unknown", _("Policy default (on for art contests)")),
            ("true", _("On: a person reviews every entry; the machine clears none")),
            ("false", _("Off: entries scored likely human-made are only sampled")),
        ]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Many files from one <input multiple>. Each file is judged later, on its own, by the
    services, so an empty or bad file never makes the whole form invalid."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = [f for f in (data if isinstance(data, (list, tuple)) else [data]) if f]
        if self.required and not files:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return files


class CollectionUploadForm(forms.Form):
    files = MultipleFileField(
        label=_("Images or zip archives"),
        help_text=_("Choose many images at once, or zip archives of images (folders inside are fine)."),
    )
    note = forms.CharField(
        label=_("Note for reviewers (optional, applies to every file)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
