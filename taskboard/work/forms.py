from django import forms

from taskboard.discussion.models import COMMENT_MAX

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


class CommentForm(forms.Form):
    body = forms.CharField(
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Comment… @name to mention someone"}),
        error_messages={"required": "Write something first."},
    )
    thread = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
