"""督查室's header: how many deliveries need a person (failed, or of unknown outcome),
linking to the admin's list of them. One count query, for 督查室 only."""

from django import template

from tracker.notifications.delivery import needing_a_person

register = template.Library()


@register.inclusion_tag("dashboard/_failed_deliveries.html", takes_context=True)
def failed_deliveries(context):
    scope = context.get("scope")
    if scope is None or not scope.is_supervision:
        return {"count": 0}
    return {"count": needing_a_person().count()}
