"""月度通报设置 (文号, 成文日期, 挂牌督办 cap): only 督查室 edits it, every change is kept."""

from datetime import date

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
