from django import forms

from taskboard.quality.activity import MAX_MARK_AGE_MS, MAX_MARKS_PER_BEAT

CLEAR = "__clear__"


class StatusForm(forms.Form):
    status = forms.CharField(max_length=50)

    def __init__(self, *args, statuses: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.statuses = statuses

    def clean_status(self):
        status = self.cleaned_data["status"]
        if status != CLEAR and status not in self.statuses:
            raise forms.ValidationError("This task has no such status.")
        return status


class LabelForm(forms.Form):
    label = forms.IntegerField(min_value=1)


class RejectForm(forms.Form):
    # Whether a reason or a comment is needed is the project's rule (`quality/reasons.py`).
    reason = forms.IntegerField(min_value=1, required=False)
    comment = forms.CharField(max_length=2000, strip=True, required=False)


class BeatForm(forms.Form):
    """A heartbeat: how many milliseconds ago each sign of activity happened, comma-separated."""

    marks = forms.CharField(max_length=8000, required=False)

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
