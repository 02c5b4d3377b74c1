from django import forms

from taskboard.quality.models import ProjectQuality


class ProjectQualityForm(forms.ModelForm):
    class Meta:
        model = ProjectQuality
        fields = ["idle_cutoff_seconds"]
        labels = {"idle_cutoff_seconds": "Idle cut-off (seconds)"}
