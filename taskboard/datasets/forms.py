from django import forms


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class UploadForm(forms.Form):
    """Shares its page with the item browser's filters, so its ids carry their own prefix: one "Folder"
    field's label must never name the other's control too."""

    # The form's metaclass moves declared fields into base_fields, so this does not replace Form.files at
    # run time; django-stubs sees it as that attribute's override.
    files = MultipleFileField(label="Files", required=True)  # type: ignore[assignment]
    folder = forms.CharField(label="Into folder", max_length=1000, initial="/")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "upload_%s")
        super().__init__(*args, **kwargs)


class ManifestForm(forms.Form):
    file = forms.FileField(
        label="Manifest",
        help_text=(
            "CSV with columns filename,url,metadata, or JSON Lines with those keys. Filenames start with /. "
            "Up to ten million rows; a large manifest is imported by a job with a progress bar."
        ),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "manifest_%s")
        super().__init__(*args, **kwargs)
