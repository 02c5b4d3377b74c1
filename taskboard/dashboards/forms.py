"""Forms of the people view's levers: they clean input only; the services decide."""

from django import forms

from taskboard.annotation.models import AnnotationTask
from taskboard.work.models import StuckAction


class PersonLeverForm(forms.Form):
    """One lever on one person: a task of the project (none: everywhere), and what the lever needs."""

    task = forms.ModelChoiceField(queryset=AnnotationTask.objects.none(), required=False)
    reason = forms.CharField(required=False, max_length=2000)
    max_items = forms.IntegerField(required=False, min_value=0)
    max_share = forms.IntegerField(required=False, min_value=1, max_value=100)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["task"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = AnnotationTask.objects.filter(project=project, closed_at__isnull=True)


class StuckPolicyForm(forms.Form):
    after_hours = forms.IntegerField(label="Stuck after (hours)", required=False, min_value=1, max_value=720)
    action = forms.ChoiceField(label="Then", choices=StuckAction.choices)
