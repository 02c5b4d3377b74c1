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
