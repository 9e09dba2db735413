"""月度通报设置 (文号, 成文日期, 挂牌督办 cap): only 督查室 edits it, every change is kept."""

from datetime import date

from django.utils import timezone

from tracker.reporting.models import NoticeIssue


def test_only_the_supervision_office_edits_notice_settings(personas, client):
    url = "/admin/tracker/noticeissue/add/"
    for user in (personas.district_a_user, personas.agency_a_user):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert client.get("/admin/tracker/noticeissue/").status_code == 403
    client.force_login(personas.supervisor)
    response = client.post(
        url,
        {
            "month": "2024-09-15",
            "doc_number": "杭督通〔2024〕9号",
            "issued_on": "2024-10-10",
            "supervision_cap": "5",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    issue = NoticeIssue.objects.get()
    assert issue.month == date(2024, 9, 1) and issue.supervision_cap == 5  # a month is its 1st
    issue.doc_number = "杭督通〔2024〕10号"
    issue.save()
    assert [h.doc_number for h in issue.history.order_by("history_date")] == [
        "杭督通〔2024〕9号",
        "杭督通〔2024〕10号",
    ]
    assert client.get(f"/admin/tracker/noticeissue/{issue.pk}/history/").status_code == 200


def test_issuing_needs_a_checked_month_and_an_issued_notice_is_read_only(personas, client):
    """印发 from the admin: a month the check has not stored cannot be issued (a warning,
    nothing changes); once issued, the month's settings cannot be changed."""
    client.force_login(personas.supervisor)
    issue = NoticeIssue.objects.create(month=date(2024, 9, 1), doc_number="杭督通〔2024〕9号")
    response = client.post(
        "/admin/tracker/noticeissue/",
        {"action": "issue_notices", "_selected_action": [issue.pk]},
        follow=True,
    )
    assert "没有进度检查结果，无法印发通报" in response.content.decode()
    issue.refresh_from_db()
    assert issue.issued_at is None and issue.snapshot is None

    NoticeIssue.objects.filter(pk=issue.pk).update(issued_at=timezone.now())
    url = f"/admin/tracker/noticeissue/{issue.pk}/change/"
    client.post(url, {"month": "2024-09-01", "doc_number": "改过的文号", "supervision_cap": "3"})
    issue.refresh_from_db()
    assert issue.doc_number == "杭督通〔2024〕9号" and issue.supervision_cap != 3
