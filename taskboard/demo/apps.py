from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo: sample projects, people, datasets and work under way (`manage.py demo`). It sits on
    top of every other app, since it makes a little of everything."""

    name = "taskboard.demo"
