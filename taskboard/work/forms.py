from django import forms

from taskboard.discussion.models import COMMENT_MAX
from taskboard.quality.activity import MAX_MARK_AGE_MS, MAX_MARKS_PER_BEAT

CLEAR = "__clear__"


class StatusForm(forms.Form):
    """A status key, or CLEAR. Whether the task has the status is the status service's rule."""

    status = forms.CharField(max_length=50)


class LabelForm(forms.Form):
    label = forms.IntegerField(min_value=1)


class RejectForm(forms.Form):
    # Whether a reason or a comment is needed is the project's rule (`quality/reasons.py`).
    reason = forms.IntegerField(min_value=1, required=False)
    comment = forms.CharField(max_length=2000, strip=True, required=False)


ENDED_MAX_AGE_MS = 7 * 24 * 3600 * 1000


class BeatForm(forms.Form):
    """A heartbeat: how many milliseconds ago each sign of activity happened, comma-separated, and,
    when the page was hidden or lost the focus, how long ago its last input was (`ended`)."""

    marks = forms.CharField(max_length=8000, required=False)
    # Any age is believed: ending a span can only take time away.
    ended = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=ENDED_MAX_AGE_MS,
        error_messages={"min_value": "The end is from the future."},
    )

    def clean_marks(self) -> list[int]:
        raw = self.cleaned_data["marks"].strip()
        if not raw:
            return []
        parts = raw.split(",")
        if len(parts) > MAX_MARKS_PER_BEAT:
            raise forms.ValidationError(f"At most {MAX_MARKS_PER_BEAT} marks in one beat.")
        try:
            ages = [int(part) for part in parts]
        except ValueError as error:
            raise forms.ValidationError("Marks are whole numbers of milliseconds.") from error
        if any(age < 0 or age > MAX_MARK_AGE_MS for age in ages):
            raise forms.ValidationError("A mark is from the future or too long ago.")
        return ages


class CommentForm(forms.Form):
    body = forms.CharField(
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Comment… @name to mention someone"}),
        error_messages={"required": "Write something first."},
    )
    thread = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
