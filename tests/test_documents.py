"""Document versions (SPEC §9): content-addressed by SHA-256 in `[documents] dir`, never overwritten."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .conftest import ASEC, PEOPLE, SHEPHERD, Ascn, write_config


def test_versions_are_content_addressed_and_never_overwritten(ascn: Ascn, tmp_path: Path) -> None:
    a = ascn
    a.config.write_text(a.config.read_text() + '\n[documents]\ndir = "framework-versions"\n')
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    first = b"ASEAN Smart Cities Framework\ndraft 1\n"
    added = a.json("document", "add", "2018/framework", a.file("fw.txt", first.decode()), actor=SHEPHERD)
    sha = hashlib.sha256(first).hexdigest()
    stored = tmp_path / "framework-versions" / sha[:2] / sha
    assert added["sha256"] == sha and added["added"] is True and added["title"] == "fw.txt"
    assert added["path"] == str(stored) and stored.read_bytes() == first and added["size"] == len(first)

    again = a.json("document", "add", "2018/framework", a.file("copy.txt", first.decode()), actor=ASEC)
    assert again["added"] is False and again["version"] == 1  # the same bytes are the same version
    second = b"ASEAN Smart Cities Framework\ndraft 2\n"
    a.ok("document", "add", "2018/framework", a.file("fw.txt", second.decode()), "--title", "Draft 2", actor=ASEC)
    assert stored.read_bytes() == first  # the first version's file is untouched
    listed = a.json("document", "list", "2018/framework")
    assert [(d["version"], d["title"], d["added_by"]) for d in listed] == [
        (1, "fw.txt", SHEPHERD),
        (2, "Draft 2", ASEC),
    ]
    assert listed[1]["sha256"] == hashlib.sha256(second).hexdigest()
    table = a.ok("document", "list", "2018/framework").output
    assert "Draft 2" in table and sha[:16] in table


def test_document_refusals(ascn: Ascn) -> None:
    a = ascn
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    path = a.file("fw.txt", "text\n")
    fifo = str(a.folder / "pipe")
    os.mkfifo(fifo)
    cases = [
        (["document", "add", "2018/framework", path], "nobody@x.example", 5),
        (["document", "add", "2018/framework", path], None, 5),
        (["document", "add", "2018/nope", path], ASEC, 3),
        (["document", "add", "2018/framework", str(a.folder / "missing.pdf")], ASEC, 3),
        (["document", "add", "2018/framework", str(a.folder)], ASEC, 2),
        (["document", "add", "2018/framework", fifo], ASEC, 2),  # a pipe is refused, never read (no hang)
        (["document", "add", "2018/framework", "/dev/null"], ASEC, 2),  # a device: not a regular file
        (["document", "add", "2018/framework", a.file("empty.txt", "")], ASEC, 2),  # no 0-byte version
        (["document", "list", "2018/nope"], ASEC, 3),
    ]
    for args, actor, code in cases:
        result = a.run(*args, actor=actor)
        assert result.exit_code == code, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
        if code == 2 and args[-1] != str(a.folder):
            assert "regular file" in result.stderr or "empty" in result.stderr, result.stderr
    assert a.json("document", "list", "2018/framework") == []
    assert not (a.folder / "documents").exists()  # nothing was written for a refused add


def test_unknown_documents_key_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra='\n[documents]\nfolder = "x"\n')
    a = Ascn(tmp_path, config)
    result = a.run("status")
    assert result.exit_code == 2 and "unknown [documents] key 'folder'" in result.stderr


def test_show_judges_an_endorsements_rules_as_endorsing_would(ascn: Ascn) -> None:
    """`endorse` records the latest version (effect record-document-version) before its rules are
    judged; `show` judged rule document-attached on the stored data alone, so it said 'no version
    attached' of a Framework that had one, while the portal offered the same warning."""
    a = ascn
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    a.ok("advance", "2018/framework", "circulate", actor=SHEPHERD, now="2018-03-20T09:00+08:00")
    a.ok("advance", "2018/scgw", "convene", actor=SHEPHERD, now="2018-05-22T09:00+08:00")
    a.ok("advance", "2018/framework", "revise", actor=SHEPHERD, now="2018-05-25T18:00+08:00")

    def attached() -> dict[str, object]:
        shown = a.json("show", "2018/framework", now="2018-05-26T10:00+08:00")
        endorse = next(o for o in shown["next"] if o["trigger"] == "endorse")
        return next(r for r in endorse["rules"] if r["rule"] == "document-attached")

    assert attached()["met"] is False
    a.ok("document", "add", "2018/framework", a.file("fw.txt", "Framework, revised\n"), actor=SHEPHERD)
    assert attached() == {"rule": "document-attached", "met": True, "reason": None}
    framework = a.json("framework", now="2018-05-26T10:00+08:00")
    rules = next(o for o in framework["next"] if o["trigger"] == "endorse")["rules"]
    assert {"rule": "document-attached", "met": True, "reason": None} in rules


def test_incoming_files_of_a_killed_writer_are_swept_and_one_in_flight_is_left(ascn: Ascn, tmp_path: Path) -> None:
    """A writer killed mid-write leaves its `.incoming-` file; the next version added removes it once
    an hour old, and leaves a fresh one alone (another process's version in flight)."""
    a = ascn
    a.config.write_text(a.config.read_text() + '\n[documents]\ndir = "versions"\n')
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    shard = tmp_path / "versions" / "ab"
    shard.mkdir(parents=True)
    killed, in_flight = shard / ".incoming-killed", shard / ".incoming-writing"
    killed.write_bytes(b"half a docu")
    in_flight.write_bytes(b"")
    two_hours_ago = killed.stat().st_mtime - 7200
    os.utime(killed, (two_hours_ago, two_hours_ago))
    a.ok("document", "add", "2018/framework", a.file("fw.txt", "draft 1\n"), actor=SHEPHERD)
    assert not killed.exists() and in_flight.exists()
    left = [p.name for p in (tmp_path / "versions").glob("*/.incoming-*")]
    assert left == [in_flight.name]  # the version just added left none of its own
