from django.contrib import admin

from taskboard.pipelines.models import Connection, FailedStep, Move, Node, NodeWorkload, Pipeline


class NodeInline(admin.TabularInline):
    model = Node
    fields = ("name", "kind", "column", "row", "dataset", "recipe", "owner", "task")
    raw_id_fields = ("dataset", "recipe", "owner", "task")
    extra = 0
    show_change_link = True


class ConnectionInline(admin.TabularInline):
    model = Connection
    fk_name = "pipeline"
    fields = ("source", "status", "target", "rework")
    raw_id_fields = ("source", "target")
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "state", "created_by", "installed_at", "updated_at")
    list_filter = ("state",)
    list_select_related = ("project", "created_by")
    search_fields = ("name", "project__name")
    raw_id_fields = ("project", "created_by", "installed_by")
    inlines = [NodeInline, ConnectionInline]


class NodeWorkloadInline(admin.TabularInline):
    model = NodeWorkload
    raw_id_fields = ("assignee",)
    extra = 0


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("name", "pipeline", "kind", "column", "row", "task")
    list_filter = ("kind",)
    list_select_related = ("pipeline", "task")
    search_fields = ("name", "node_uid", "pipeline__name")
    raw_id_fields = ("pipeline", "dataset", "recipe", "owner", "task")
    inlines = [NodeWorkloadInline]


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("pipeline", "source", "status", "target", "rework")
    list_select_related = ("pipeline", "source", "target")
    search_fields = ("pipeline__name", "source__name", "target__name", "status")
    raw_id_fields = ("pipeline", "source", "target")


@admin.register(Move)
class MoveAdmin(admin.ModelAdmin):
    list_display = ("at", "pipeline", "item", "from_node", "to_node", "status", "job_id")
    list_filter = ("status",)
    list_select_related = ("pipeline", "item", "from_node", "to_node")
    search_fields = ("pipeline__name", "item__filename", "job_id")
    raw_id_fields = ("pipeline", "item", "from_node", "to_node", "by")
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(FailedStep)
class FailedStepAdmin(admin.ModelAdmin):
    list_display = ("last_failed_at", "pipeline", "from_node", "to_node", "status", "attempts", "transient", "error")
    list_filter = ("transient", "status")
    list_select_related = ("pipeline", "from_node", "to_node")
    search_fields = ("pipeline__name", "to_node__name", "error", "job_id")
    raw_id_fields = ("pipeline", "from_node", "to_node", "item")
    date_hierarchy = "last_failed_at"
