"""The 2018 cycle walked end to end through the CLI, the clock set per step with $ASCN_NOW."""

from __future__ import annotations

from .conftest import ASEC, CHAIR, NR, SHEPHERD, Ascn, nomination


def test_2018_calendar_end_to_end(ready: Ascn) -> None:
    a = ready
    # --- February: nominations -------------------------------------------------------------
    feb = "2018-02-20T10:00+08:00"
    a.ok(
        "nominate",
        "TH",
        "--file",
        a.file("th.toml", nomination("TH", ["Bangkok", "Chonburi", "Phuket"], NR["TH"])),
        actor=NR["TH"],
        now=feb,
    )
    a.ok(
        "nominate",
        "VN",
        "--file",
        a.file("vn.toml", nomination("VN", ["Ha Noi", "Da Nang", "Ho Chi Minh City"], NR["VN"])),
        actor=NR["VN"],
        now=feb,
    )

    my_file = a.file("my.toml", nomination("MY", ["Kuala Lumpur", "Johor Bahru", "Kota Kinabalu", "Kuching"], NR["MY"]))
    refused = a.run("nominate", "MY", "--file", my_file, actor=NR["MY"], now=feb)
    assert refused.exit_code == 4
    assert "max-cities" in refused.stderr and "4 cities nominated, at most 3" in refused.stderr
    waived = a.ok(
        "nominate",
        "MY",
        "--file",
        my_file,
        "--waive",
        "max-cities",
        "--reason",
        "pilot year: four cities agreed",
        actor=SHEPHERD,
        now=feb,
    )
    assert "waived max-cities: pilot year: four cities agreed" in waived.output

    # ASEC returns Viet Nam's nomination for a correction (a note is required), VN resubmits.
    no_note = a.run("advance", "2018/nomination/vn", "return_for_correction", actor=ASEC, now="2018-02-21T10:00+08:00")
    assert no_note.exit_code == 2 and "--note" in no_note.stderr
    a.ok(
        "advance",
        "2018/nomination/vn",
        "return_for_correction",
        "--note",
        "CSCO of Da Nang missing",
        actor=ASEC,
        now="2018-02-21T10:00+08:00",
    )
    a.ok(
        "nominate",
        "VN",
        "--file",
        a.file("vn.toml", nomination("VN", ["Ha Noi", "Da Nang", "Ho Chi Minh City"], NR["VN"])),
        actor=NR["VN"],
        now="2018-02-22T10:00+07:00",
    )
    for code in ("th", "vn", "my"):
        accepted = a.ok("advance", f"2018/nomination/{code}", "accept", actor=ASEC, now="2018-03-01T10:00+08:00")
        assert "opened" in accepted.output
    assert a.json("status", "--workflow", "nomination", "--state", "accepted", now="2018-03-01T11:00+08:00")[0]["id"]
    cscos = {p["email"]: p for p in a.json("people", "list", "--role", "csco")}
    assert cscos["csco@da-nang.example"]["city"] == "da-nang" and cscos["csco@da-nang.example"]["member_state"] == "VN"
    assert len(cscos) == 10
    kuching = a.json("show", "2018/action-plan/kuching", now="2018-03-01T11:00+08:00")
    assert kuching["zone"] == "Asia/Kuching" and kuching["stage"] == "not_started"

    # --- March: the Framework is circulated --------------------------------------------------
    a.ok(
        "advance",
        "2018/framework",
        "circulate",
        "--at",
        "2018-03-20T10:00+08:00",
        actor=SHEPHERD,
        now="2018-03-21T09:00+08:00",
    )

    # --- May: the SCGW; action plans drafted with the NR; the Framework revised ---------------
    early = a.run("advance", "2018/framework", "revise", actor=SHEPHERD, now="2018-05-01T10:00+08:00")
    assert early.exit_code == 4 and "scgw-convened" in early.stderr
    a.ok("advance", "2018/scgw", "convene", actor=SHEPHERD, now="2018-05-22T09:00+08:00")
    a.ok("advance", "2018/framework", "revise", actor=SHEPHERD, now="2018-05-24T17:00+08:00")
    plan = "2018/action-plan/da-nang"
    csco = "csco@da-nang.example"
    a.ok("advance", plan, "start", actor=csco, now="2018-05-22T10:00+08:00")
    a.ok("advance", plan, "send_to_nr", actor=csco, now="2018-05-23T10:00+08:00")
    a.ok(
        "advance",
        plan,
        "send_back",
        "--note",
        "add the smart mobility line",
        actor=NR["VN"],
        now="2018-05-23T15:00+08:00",
    )
    a.ok("advance", plan, "send_to_nr", actor=csco, now="2018-05-24T10:00+08:00")
    a.ok("advance", plan, "approve", actor=NR["VN"], now="2018-05-25T12:00+08:00")
    a.ok("advance", "2018/scgw", "conclude", actor=SHEPHERD, now="2018-05-25T18:00+08:00")
    early_share = a.run("advance", plan, "share", actor=CHAIR, now="2018-06-01T10:00+08:00")
    assert early_share.exit_code == 4 and "annual-meeting-convened" in early_share.stderr

    # A plan not submitted by the SCGW's last day is overdue (no stage change).
    overdue = a.json("status", "--workflow", "action-plan", "--overdue", now="2018-05-26T09:00+08:00")
    assert "2018/action-plan/ha-noi" in {r["id"] for r in overdue} and plan not in {r["id"] for r in overdue}

    # --- July: first annual meeting endorses the Framework; plans shared; matchmaking ----------
    a.ok("advance", "2018/annual-meeting", "convene", actor=CHAIR, now="2018-07-08T09:00+08:00")
    no_document = a.run("advance", "2018/framework", "endorse", actor=CHAIR, now="2018-07-08T15:00+08:00")
    assert no_document.exit_code == 4 and "document-attached" in no_document.stderr
    v1 = a.json(
        "document", "add", "2018/framework", a.file("fw1.txt", "ASEAN Smart Cities Framework, draft 1\n"),
        "--title", "Draft revised at the SCGW", actor=SHEPHERD, now="2018-07-02T10:00+08:00",
    )  # fmt: skip
    a.ok("advance", "2018/framework", "endorse", actor=CHAIR, now="2018-07-08T15:00+08:00")
    a.ok("advance", plan, "share", actor=CHAIR, now="2018-07-08T16:00+08:00")
    twin = "2018/twinning/da-nang"
    a.ok("advance", twin, "match", "--data", "partner=Japan", actor=SHEPHERD, now="2018-07-08T17:00+08:00")
    a.ok("advance", twin, "finalise", actor=ASEC, now="2018-07-20T10:00+08:00")
    a.ok("advance", "2018/twinning/phuket", "opt_out", actor="csco@phuket.example", now="2018-07-20T10:00+08:00")
    a.ok("advance", "2018/annual-meeting", "conclude", actor=CHAIR, now="2018-07-08T18:00+08:00")

    # --- August: the twinning programme is announced at the 51st AMM ----------------------------
    early_announce = a.run("advance", twin, "announce", actor=ASEC, now="2018-07-31T10:00+08:00")
    assert early_announce.exit_code == 4 and "on-or-after-amm" in early_announce.stderr
    a.ok("advance", twin, "announce", actor=ASEC, now="2018-08-02T10:00+08:00")

    # --- ASEC's annual report and the JCM in October ------------------------------------------
    report = "2018/annual-report"
    for trigger, when in [
        ("submit", "2018-09-01"),
        ("note", "2018-10-15"),
        ("distribute", "2018-10-20"),
        ("report", "2018-11-01"),
    ]:
        a.ok("advance", report, trigger, actor=ASEC, now=f"{when}T10:00+08:00")
    v2 = a.json(
        "document", "add", "2018/framework", a.file("fw2.txt", "ASEAN Smart Cities Framework, draft 2\n"),
        actor=SHEPHERD, now="2018-09-10T10:00+08:00",
    )  # fmt: skip
    pending = a.json("framework", now="2018-09-11T09:00+08:00")
    assert [v["sha256"] for v in pending["unendorsed_versions"]] == [v2["sha256"]]
    assert "Not endorsed yet: version 2" in a.ok("framework", now="2018-09-11T09:00+08:00").output
    unknown = a.run("advance", "2018/framework", "jcm_endorse", "--data", "version=" + "0" * 64, actor=ASEC,
                    now="2018-10-15T16:00+08:00")  # fmt: skip
    assert unknown.exit_code == 3 and "no document version" in unknown.stderr
    a.ok("advance", "2018/framework", "jcm_endorse", "--data", f"version={v1['sha256']}", actor=ASEC,
         now="2018-10-15T16:00+08:00")  # fmt: skip
    a.ok("advance", plan, "note", actor=ASEC, now="2018-10-15T16:30+08:00")
    a.ok("advance", twin, "note", actor=ASEC, now="2018-10-15T16:30+08:00")

    # --- November: the Leaders launch the network and adopt the Framework ----------------------
    early_launch = a.run("advance", "2018/launch", "launch", actor=ASEC, now="2018-11-12T10:00+08:00")
    assert early_launch.exit_code == 4 and "on-or-after-summit" in early_launch.stderr
    a.ok("advance", "2018/launch", "launch", actor=CHAIR, now="2018-11-13T10:00+08:00")
    a.ok("advance", "2018/framework", "adopt", actor=ASEC, now="2018-11-13T11:00+08:00")

    # --- Where things stand ------------------------------------------------------------------
    fw = a.json("framework", now="2018-11-14T09:00+08:00")
    assert fw["stage"] == "adopted" and fw["next"] == []
    reached = {p["stage"]: p for p in fw["path"]}
    assert (
        reached["endorsed_by_ascn"]["by"] == CHAIR and reached["endorsed_by_ascn"]["at"] == "2018-07-08T15:00:00+08:00"
    )
    assert reached["endorsed_by_jcm"]["by"] == ASEC and reached["endorsed_by_jcm"]["role"] == "asec"
    assert reached["circulated"]["at"] == "2018-03-20T10:00:00+08:00"
    assert all(p["reached"] for p in fw["path"])
    # Which version each body endorsed, at which meeting, on which day; nothing left unendorsed.
    assert [(e["body"], e["version_number"], e["meeting_days"][0], e["at"]) for e in fw["endorsements"]] == [
        ("ASCN", 1, "2018-07-08", "2018-07-08T15:00:00+08:00"),
        ("JCM", 1, "2018-10-15", "2018-10-15T16:00:00+08:00"),
        ("ASEAN Leaders", 2, "2018-11-13", "2018-11-13T11:00:00+08:00"),
    ]
    assert fw["endorsements"][0]["version"] == v1["sha256"] and fw["unendorsed_versions"] == []
    assert [d["version"] for d in a.json("document", "list", "2018/framework")] == [1, 2]

    final = {r["id"]: r["stage"] for r in a.json("status", now="2018-11-14T09:00+08:00")}
    assert final[plan] == "noted" and final[twin] == "noted" and final["2018/twinning/phuket"] == "opted_out"
    assert final["2018/launch"] == "launched" and final[report] == "reported"
    assert final["2018/nomination/sg"] == "awaiting"  # Singapore never nominated in this walk

    history = a.json("history", "2018/nomination/my")
    assert history[0]["waivers"] == {"max-cities": "pilot year: four cities agreed"} and history[0]["actor"] == SHEPHERD
    vn = a.json("history", "2018/nomination/vn")
    assert [e["trigger"] for e in vn] == ["submit", "return_for_correction", "submit", "accept"]
    assert vn[1]["note"] == "CSCO of Da Nang missing"
    assert a.json("history", twin)[0]["data"] == {"partner": "Japan"}


def test_framework_view_before_anything_happens(ready: Ascn) -> None:
    fw = ready.json("framework", now="2018-04-02T09:00+08:00")
    assert fw["stage"] == "drafting" and fw["overdue"] is True
    assert fw["deadline"] == "2018-03-31T23:59:59+08:00"
    assert fw["next"][0]["trigger"] == "circulate" and fw["next"][0]["roles"] == ["shepherd", "asec"]
    assert fw["next"][0]["due_by"] == "2018-03-31T23:59:59+08:00"
    human = ready.ok("framework", now="2018-04-02T09:00+08:00").output
    assert "drafting" in human and "OVERDUE" in human and "circulate" in human and "due by 2018-03-31" in human
