from typing import Any

from django import forms

from taskboard.notifications.models import EmailMode, EventKind


class EmailPreferencesForm(forms.Form):
    """One choice per kind of event: immediately, in the daily digest, or never."""

    def __init__(self, *args: Any, modes: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind, label in EventKind.choices:
            self.fields[kind] = forms.ChoiceField(
                label=label, choices=EmailMode.choices, initial=modes.get(kind), widget=forms.RadioSelect
            )


class WebhookForm(forms.Form):
    url = forms.CharField(label="URL", max_length=500, help_text="An http:// or https:// address that takes POSTs.")
    events = forms.MultipleChoiceField(
        choices=EventKind.choices, widget=forms.CheckboxSelectMultiple, initial=list(EventKind.values)
    )
