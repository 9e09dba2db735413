"""佐证材料 in the browser (issue 30): open, attach and remove files from the 本月填报 row
and the cell page. Thin views over ``tracker.review.attachments``; every lookup is scoped
(``restrict``: outside the viewer's scope is a 404), so downloads stay as scoped as the
API's. PDF and images open in the browser; spreadsheets and documents download."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tracker.accounts.permissions import Action, restrict
from tracker.dashboard.review import _back
from tracker.dashboard.views import page
from tracker.progress.models import ProgressReport
from tracker.review import attachments
from tracker.review import workflow as review
from tracker.review.models import Attachment, AttachmentKind

INLINE = {
    AttachmentKind.PDF: "application/pdf",
    AttachmentKind.JPG: "image/jpeg",
    AttachmentKind.PNG: "image/png",
}


def _scoped(model, user, pk, action=Action.VIEW):
    if not str(pk).isdigit() or len(str(pk)) > 10:
        raise Http404("参数不正确")
    found = restrict(user, action, model.objects.all()).filter(pk=int(pk)).first()
    if found is None:
        raise Http404("不存在或不在您的职责范围内")
    return found


@page()
@require_GET
def attachment(request, pk: int):
    """Open one file: inline for PDF and images, as a download otherwise."""
    item = _scoped(Attachment, request.viewer, pk)
    inline = item.kind in INLINE
    response = FileResponse(
        attachments.open_stored(item),
        as_attachment=not inline,
        filename=item.original_name,
        content_type=INLINE.get(item.kind, "application/octet-stream"),
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@page()
@require_POST
def attachment_add(request):
    """Attach a file to a report (``report`` id, ``file``)."""
    user = request.viewer
    report = _scoped(ProgressReport, user, request.POST.get("report", ""))
    upload = request.FILES.get("file")
    default = reverse("dashboard:report_current")
    if upload is None:
        messages.error(request, "请选择要上传的文件")
        return _back(request, default)
    try:
        item = attachments.attach(user, report, name=upload.name, content=upload)
    except review.ReviewRejected as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"已上传佐证材料「{item.original_name}」")
    return _back(request, default)


@page()
@require_POST
def attachment_remove(request, pk: int):
    """Remove a file (history keeps the row and the stored file)."""
    user = request.viewer
    item = _scoped(Attachment, user, pk)
    name = item.original_name
    try:
        attachments.remove_attachment(user, item, reason=request.POST.get("reason", ""))
    except review.ReviewRejected as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"已删除佐证材料「{name}」")
    return _back(request, reverse("dashboard:report_current"))
