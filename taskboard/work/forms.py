from django import forms

CLEAR = "__clear__"


class StatusForm(forms.Form):
    """A status key, or CLEAR. Whether the task has the status is the status service's rule."""

    status = forms.CharField(max_length=50)


class LabelForm(forms.Form):
    label = forms.IntegerField(min_value=1)


class RejectForm(forms.Form):
    comment = forms.CharField(max_length=2000, strip=True, error_messages={"required": "Say what needs fixing."})


class BeatForm(forms.Form):
    active_ms = forms.IntegerField(min_value=0, max_value=600_000)
