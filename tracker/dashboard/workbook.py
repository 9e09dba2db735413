"""The month workbook of a district or a lead agency: download and upload.

- ``report/<YYYY-MM>/xlsx/`` (``dashboard:report_xlsx``): the user's 月度填报表 for that
  month (``tracker.progress.workbooks.export_month_workbook``) — a district user their district, a
  lead agency user their projects × districts. 督查室 chooses ``?district=<code>`` or
  ``?agency=<id>`` (without either: the whole city).
- ``report/<YYYY-MM>/upload/`` (``dashboard:report_upload``): GET shows the form, POST
  imports the file all or nothing (``tracker.progress.workbooks.import_workbook``, the same import
  path as the admin's) and shows what landed or every error with its Excel row, district
  and indicator. A workbook of another month is refused.

Scope is the one of ``tracker.accounts.permissions``: the export lists only the cells due in the
user's scope, and the progress service refuses any cell outside it on import.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import render

from tracker.accounts.permissions import Action, allowed, scope_for
from tracker.calendar import deadline_label
from tracker.dashboard.views import page
from tracker.months import format_month, month_label
from tracker.plans.reference import Agency, District
from tracker.plans.selection import plan_month
from tracker.progress import workbooks as excel
from tracker.progress.models import ProgressReport

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadForm(forms.Form):
    file = forms.FileField(
        label="填好的月度填报表（.xlsx）",
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}),
    )


def _month(text: str) -> date:
    try:
        return plan_month(text)
    except ValueError as exc:
        raise Http404(str(exc)) from exc


def _choice(request) -> tuple[int | None, int | None]:
    """督查室's choice of district (``?district=<code>``) or agency (``?agency=<id>``);
    other users' scope decides for them."""
    if not scope_for(request.user).is_supervision:
        return None, None
    code = request.GET.get("district", "").strip()
    agency = request.GET.get("agency", "").strip()
    if code:
        district_id = District.objects.filter(code=code).values_list("pk", flat=True).first()
        if district_id is None:
            raise Http404(f"没有代码为「{code}」的区、县(市)")
        return district_id, None
    if agency:
        agency_id = (
            Agency.objects.filter(pk=int(agency)).values_list("pk", flat=True).first()
            if agency.isdigit() and len(agency) < 10
            else None
        )
        if agency_id is None:
            raise Http404("没有该牵头单位")
        return None, agency_id
    return None, None


def _page(request, month, status=200, **extra):
    return render(
        request,
        "dashboard/workbook.html",
        {
            "month": month,
            "wb_month": format_month(month),
            "month_label": month_label(month),
            "deadline": deadline_label(month),
            "viewer": request.user,
            "scope": scope_for(request.user),
            "form": extra.pop("form", None) or UploadForm(),
            "districts": District.objects.order_by("order"),
            "agencies": Agency.objects.order_by("name"),
            **extra,
        },
        status=status,
    )


@page()
def report_xlsx(request, month: str):
    """Download the user's month workbook."""
    month = _month(month)
    if not allowed(request.user, Action.EXPORT, ProgressReport):
        return render(request, "dashboard/no_role.html", status=403)
    district_id, agency_id = _choice(request)
    try:
        data = excel.export_month_workbook(
            request.user, month, district_id=district_id, agency_id=agency_id
        )
    except excel.ExportRefused as exc:
        return _page(request, month, status=400, export_error=str(exc))
    who = excel.workbook_title(request.user, month, district_id=district_id, agency_id=agency_id)
    response = HttpResponse(data, content_type=XLSX)
    name = f"{who}_月度填报表_{format_month(month)}.xlsx"
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


@page()
def report_upload(request, month: str):
    """Upload a filled month workbook: all of it lands, or nothing and every error."""
    month = _month(month)
    if not allowed(request.user, Action.IMPORT, ProgressReport):
        return render(request, "dashboard/no_role.html", status=403)
    if request.method != "POST":
        return _page(request, month)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, month, status=400, form=form)
    data = form.cleaned_data["file"].read(excel.max_upload_bytes() + 1)
    try:
        result = excel.import_workbook(request.user, data, month=month)
    except excel.ImportRejected as exc:
        return _page(request, month, status=400, import_errors=[str(e) for e in exc.errors])
    return _page(request, month, result=result)


__all__ = ["report_upload", "report_xlsx"]
