from typing import Any

from django import forms

from taskboard.annotation.models import AnnotationTask
from taskboard.projects.models import Project
from taskboard.quality.models import ProjectQuality, TaskQuality


class ProjectQualityForm(forms.ModelForm):
    class Meta:
        model = ProjectQuality
        fields = ["idle_cutoff_seconds"]
        labels = {"idle_cutoff_seconds": "Idle cut-off (seconds)"}


class TaskQualityForm(forms.ModelForm):
    class Meta:
        model = TaskQuality
        fields = [
            "honeypot_rate",
            "pause_below",
            "pause_after",
            "qualification_items",
            "qualification_pass",
            "qualification_attempts",
        ]
        labels = {
            "honeypot_rate": "Honeypots (% of items)",
            "pause_below": "Pause below (% right)",
            "pause_after": "after at least (answers)",
            "qualification_items": "Qualification items (0: none)",
            "qualification_pass": "pass mark (%)",
            "qualification_attempts": "attempts",
        }


class GroundTruthFromTaskForm(forms.Form):
    task = forms.ModelChoiceField(queryset=AnnotationTask.objects.none(), label="From task")
    status = forms.CharField(max_length=50, label="items with status", initial="approved")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["task"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = AnnotationTask.objects.filter(project=project).order_by("name")


class RejectReasonForm(forms.Form):
    name = forms.CharField(max_length=100, label="New reason")
    needs_comment = forms.BooleanField(required=False, label="needs a comment")


class SamplingForm(forms.ModelForm):
    class Meta:
        model = TaskQuality
        fields = ["sampling", "sample_floor", "sample_new", "sample_step", "sample_min_score"]
        labels = {
            "sampling": "Sample reviews per person",
            "sample_floor": "floor (%)",
            "sample_new": "100% until passes in a row",
            "sample_step": "then halve every (passes)",
            "sample_min_score": "100% below score (%)",
        }


class ProjectPayForm(forms.ModelForm):
    class Meta:
        model = ProjectQuality
        fields = ["default_hourly_rate", "currency"]
        labels = {"default_hourly_rate": "Default hourly rate", "currency": "Currency"}


class PayRateForm(forms.Form):
    user = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    hourly_rate = forms.DecimalField(max_digits=8, decimal_places=2, min_value=0, required=False)
