"""Beyond 2018: yearly cycles, the Chair's rotation, progress reviews, projects and expansion."""

from __future__ import annotations

from .conftest import ASEC, CHAIR, NR, SHEPHERD, Ascn, join, nomination


def _founded(a: Ascn) -> Ascn:
    """2018, briefly: Thailand and Viet Nam join with two cities each."""
    for code, cities in (("TH", ["Bangkok", "Phuket"]), ("VN", ["Ha Noi", "Da Nang"])):
        join(a, code, cities)
    return a


def test_chair_rotation_and_cycle_list(ready: Ascn) -> None:
    cycles = {c["cycle"]: c for c in ready.json("cycle", "list")}
    assert [cycles[y]["chair"] for y in range(2018, 2026)] == ["SG", "TH", "VN", "BN", "KH", "ID", "LA", "MY"]
    assert cycles[2018]["opened"] is True and cycles[2019]["opened"] is False
    assert "Thailand (TH)" in ready.ok("cycle", "list").output


def test_2019_and_2020_end_to_end(ready: Ascn) -> None:
    a = _founded(ready)
    csco_dn, csco_bkk = "csco@da-nang.example", "csco@bangkok.example"

    # --- 2019: Thailand chairs -----------------------------------------------------------------
    opened = a.json("cycle", "open", "2019", now="2019-01-10T09:00+07:00")
    assert opened["chair"] == "TH"
    assert sorted(opened["opened"]) == sorted(
        ["2019/annual-meeting", "2019/annual-report"]
        + [
            f"2019/{w}/{c}"
            for w in ("progress-review", "twinning-follow-up")
            for c in ("bangkok", "phuket", "ha-noi", "da-nang")
        ]
    )
    assert a.json("cycle", "open", "2019", now="2019-01-11T09:00+07:00")["opened"] == []  # idempotent
    assert (
        a.json("show", "2019/progress-review/bangkok", now="2019-01-11T09:00+07:00")["deadline"]
        == "2019-06-07T23:59:59+07:00"
    )

    # Projects: one completed with a provider and a bank, one dropped with its reason.
    project = a.json(
        "project",
        "add",
        "da-nang",
        "--title",
        "Smart traffic lights",
        "--focus",
        "transport",
        "--funding",
        "Asian Development Bank",
        actor=csco_dn,
        now="2019-03-01T10:00+07:00",
    )
    pid = project["id"]
    assert pid == "2019/project/da-nang/1" and project["funding"] == {"kind": "bank", "name": "ADB"}
    a.ok("advance", pid, "match", "--data", "provider=Acme Mobility", actor=ASEC, now="2019-03-05T10:00+07:00")
    a.ok("advance", pid, "agree", actor=NR["VN"], now="2019-03-10T10:00+07:00")
    a.ok("advance", pid, "start", actor=csco_dn, now="2019-04-01T10:00+07:00")
    drop = a.json(
        "project",
        "add",
        "bangkok",
        "--title",
        "Canal sensors",
        "--focus",
        "water",
        "--funding",
        "Japan",
        actor=NR["TH"],
        now="2019-03-02T10:00+07:00",
    )
    assert drop["funding"] == {"kind": "external partner", "name": "Japan"}
    no_reason = a.run("advance", drop["id"], "drop", actor=NR["TH"], now="2019-05-01T10:00+07:00")
    assert no_reason.exit_code == 2 and "--note" in no_reason.stderr
    a.ok(
        "advance",
        drop["id"],
        "drop",
        "--note",
        "no provider found within budget",
        actor=NR["TH"],
        now="2019-05-01T10:00+07:00",
    )
    bad_focus = a.run("project", "add", "da-nang", "--title", "X", "--focus", "space", actor=csco_dn)
    assert bad_focus.exit_code == 2 and "transport" in bad_focus.stderr
    assert a.run("project", "add", "phuket", "--title", "X", actor=csco_dn).exit_code == 5  # not their city
    assert a.run("project", "add", "atlantis", "--title", "X", actor=ASEC).exit_code == 3

    # Da Nang's review records its projects; Bangkok's lapses at the deadline and comes late.
    a.ok("advance", "2019/progress-review/da-nang", "submit", actor=csco_dn, now="2019-06-01T10:00+07:00")
    recorded = a.json("history", "2019/progress-review/da-nang")[0]["data"]["projects"]
    assert recorded == [
        {
            "id": pid,
            "title": "Smart traffic lights",
            "stage": "under_way",
            "provider": "Acme Mobility",
            "funding": {"kind": "bank", "name": "ADB"},
        }
    ]
    report = a.json("tick", now="2019-06-08T12:00+07:00")
    assert "2019/progress-review/bangkok: requested -> overdue at 2019-06-07T23:59:59+07:00" in report["lapsed"]
    late = a.json("history", "2019/progress-review/bangkok")[-1]
    assert late["trigger"] == "lapse" and late["effective_at"] == "2019-06-07T23:59:59+07:00"
    notice = next(p for p in (a.folder / "outbox").glob("overdue.2019.progress-review.bangkok*.eml"))
    text = notice.read_text()
    assert "csco@bangkok.example" in text and ASEC in text and NR["TH"] in text  # the 2019 Chair is Thailand's NR
    a.ok("advance", "2019/progress-review/bangkok", "submit", actor=csco_bkk, now="2019-06-20T10:00+07:00")

    # The annual meeting, hosted by the Chair: Thailand's NR in 2019, not Singapore's chair grant.
    denied = a.run("advance", "2019/annual-meeting", "convene", actor=CHAIR, now="2019-07-08T09:00+07:00")
    assert denied.exit_code == 5
    a.ok("advance", "2019/annual-meeting", "convene", actor=NR["TH"], now="2019-07-08T09:00+07:00")
    assert a.json("history", "2019/annual-meeting")[0]["role"] == "chair"
    assert (
        a.run("advance", "2018/annual-meeting", "convene", actor=NR["TH"], now="2019-07-08T09:00+07:00").exit_code == 5
    )
    a.ok("advance", "2019/annual-meeting", "conclude", actor=NR["TH"], now="2019-07-09T17:00+07:00")
    for city in ("da-nang", "bangkok"):
        a.ok("advance", f"2019/progress-review/{city}", "review", actor=ASEC, now="2019-07-20T10:00+07:00")
        a.ok("advance", f"2019/progress-review/{city}", "publish", actor=ASEC, now="2019-07-21T10:00+07:00")
    a.ok("advance", pid, "complete", actor=csco_dn, now="2019-09-01T10:00+07:00")

    # Expansion: Viet Nam nominates Ho Chi Minh City in 2019; Thailand's two more would make four.
    too_many = a.run(
        "nominate",
        "TH",
        "--cycle",
        "2019",
        "--file",
        a.file(
            "th19.toml",
            nomination("TH", ["Chonburi", "Chiang Mai"], NR["TH"]).replace(
                'name = "Chiang Mai"\n', 'name = "Chiang Mai"\ntimezone = "Asia/Bangkok"\n'
            ),
        ),
        actor=NR["TH"],
        now="2019-02-10T10:00+07:00",
    )
    assert too_many.exit_code == 4 and "(2 already members)" in too_many.stderr
    a.ok(
        "nominate",
        "VN",
        "--cycle",
        "2019",
        "--file",
        a.file("vn19.toml", nomination("VN", ["Ho Chi Minh City"], NR["VN"])),
        actor=NR["VN"],
        now="2019-02-10T10:00+07:00",
    )
    accepted = a.json("advance", "2019/nomination/vn", "accept", actor=ASEC, now="2019-02-12T10:00+07:00")
    assert sorted(accepted["opened"]) == ["2019/action-plan/ho-chi-minh-city", "2019/twinning/ho-chi-minh-city"]

    report2019 = a.json("report", "annual", "2019", now="2019-12-01T10:00+07:00")
    figures = report2019["figures"]
    assert figures["progress_reviews"] == 4 and figures["progress_reviews_published"] == 2
    assert figures["projects"] == 2 and figures["projects_dropped"] == 1
    dropped = next(p for p in report2019["projects"] if p["stage"] == "dropped")
    assert dropped["reason"] == "no provider found within budget"
    assert "2019/progress-review/bangkok" in report2019["lapsed"]
    assert report2019["chair"] == "Thailand"

    # --- 2020: Viet Nam chairs; Ho Chi Minh City, a member since 2019, is reviewed too ----------
    opened2020 = a.json("cycle", "open", "2020", now="2020-01-10T09:00+07:00")
    assert opened2020["chair"] == "VN"
    assert "2020/progress-review/ho-chi-minh-city" in opened2020["opened"]
    assert len([i for i in opened2020["opened"] if "/progress-review/" in i]) == 5
    assert (
        a.run("advance", "2020/annual-meeting", "convene", actor=NR["TH"], now="2020-07-07T09:00+07:00").exit_code == 5
    )
    a.ok("advance", "2020/annual-meeting", "convene", actor=NR["VN"], now="2020-07-07T09:00+07:00")
    a.ok(
        "advance",
        "2020/progress-review/ho-chi-minh-city",
        "submit",
        actor="csco@ho-chi-minh-city.example",
        now="2020-05-01T10:00+07:00",
    )

    # status by cycle, and across all of them
    only2020 = a.json("status", "--cycle", "2020", now="2020-08-01T09:00+07:00")
    assert {r["cycle"] for r in only2020} == {2020}
    everything = a.json("status", "--cycle", "all", now="2020-08-01T09:00+07:00")
    assert {r["cycle"] for r in everything} == {2018, 2019, 2020}
    assert {r["cycle"] for r in a.json("status", now="2020-08-01T09:00+07:00")} == {2018}  # the config's cycle
    assert a.run("status", "--cycle", "someday").exit_code == 2
    assert [p["id"] for p in a.json("project", "list", "--city", "da-nang")] == [pid]
    cycles = {c["cycle"]: c for c in a.json("cycle", "list", now="2020-08-01T09:00+07:00")}
    assert cycles[2019]["opened"] is cycles[2020]["opened"] is True and cycles[2021]["opened"] is False
    assert a.json("audit", "verify")["problems"] == []


def test_shepherd_helps_the_chair_every_year(ready: Ascn) -> None:
    _founded(ready)
    ready.ok("cycle", "open", "2019", now="2019-01-10T09:00+07:00")
    ready.ok("advance", "2019/annual-meeting", "convene", actor=SHEPHERD, now="2019-07-08T09:00+07:00")
