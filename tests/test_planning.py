"""Reminder dates: each recipient's zone, weekends and public holidays of their member state."""

from __future__ import annotations

from ascn_workflow.dates import show
from ascn_workflow.planning import Recipient, plan_reminders, previous_working_day

from .conftest import utc

DEADLINE = utc("2018-02-28T23:59:59+08:00")  # nominations-due, end of 28 Feb in Singapore


def _days(recipient: Recipient) -> list[str | None]:
    return [show(p.due_at, recipient.zone) for p in plan_reminders(DEADLINE, [recipient], [14, 7, 1], 9)]


def test_vietnam_reminder_moves_off_tet() -> None:
    vn = Recipient("nr@vn.example", "NR", "nr", "Asia/Ho_Chi_Minh", "VN")
    # 14 Feb 2018 is a Tet holiday in Viet Nam: the reminder moves to Tuesday 13 Feb.
    assert _days(vn) == ["2018-02-13T09:00:00+07:00", "2018-02-21T09:00:00+07:00", "2018-02-27T09:00:00+07:00"]


def test_thailand_keeps_the_fourteenth() -> None:
    th = Recipient("nr@th.example", "NR", "nr", "Asia/Bangkok", "TH")
    assert _days(th)[0] == "2018-02-14T09:00:00+07:00"


def test_recipient_zone_and_singapore_new_year() -> None:
    mm = Recipient("nr@mm.example", "NR", "nr", "Asia/Yangon", "MM")
    assert _days(mm)[0] == "2018-02-14T09:00:00+06:30"
    sg = Recipient("nr@sg.example", "NR", "nr", "Asia/Singapore", "SG")
    # 16 and 17 Feb are Chinese New Year in Singapore, the 18th a Sunday: 7 days before the 28th is the 21st.
    assert _days(sg)[1] == "2018-02-21T09:00:00+08:00"


def test_weekend_moves_to_friday() -> None:
    from datetime import date

    assert previous_working_day(date(2018, 3, 4), "TH") == date(2018, 3, 2)  # Sunday -> Friday
    assert previous_working_day(date(2018, 3, 2), "TH") == date(2018, 3, 2)


def test_a_reminder_after_the_deadline_is_never_planned() -> None:
    th = Recipient("nr@th.example", "NR", "nr", "Asia/Bangkok", "TH")
    # An offset of 0 days would fall on the deadline's own day at 09:00, still before it; none falls after.
    late = plan_reminders(utc("2018-02-28T08:00+07:00"), [th], [0], 9)
    assert late == []
