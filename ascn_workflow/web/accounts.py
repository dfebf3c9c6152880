"""Sign-in links, sessions and calendar feeds: the portal's secrets, kept as SHA-256 hashes only.

Modelled on django-sesame: a link is random (256 bits), single-use, short-lived, found by its
hash (a unique column) and compared with `hmac.compare_digest`, and never written to a log. As
sesame hashes the password and last login into its tokens, a link also carries a digest of the
person's record as it was mailed (address, name, login, roles): once any of them changes, the
link no longer works. A session is a row, so signing out ends it on the server whatever the
browser keeps; it reads the person and their roles at every request, so a person removed (or
moved to another address) is signed out and a role removed is gone at the next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta

from msgspec import Struct

from ..app import App
from ..people import Actor
from ..store import Feed, Person, SignIn, Transaction, WebSession

LINKS_PER_HOUR = 5  # sign-in mails per address per hour; more get the same answer and no mail


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SignedIn(Struct, frozen=True):
    email: str
    name: str
    csrf: str
    token_hash: str
    actor: Actor  # their roles, read with the session: the pages decide what to show from it


RANDOM_CHARS = 43  # new_token(): 32 random bytes in URL-safe base64


def record_digest(salt: str, person: Person, actor: Actor | None) -> str:
    """The person's record as a link was mailed for it (22 URL-safe characters), keyed by the link's
    random part so that it tells nothing about the person on its own."""
    grants = sorted((g.role, g.member_state or "", g.city or "") for g in actor.grants) if actor else []
    record = json.dumps([person.email, person.name, person.login, grants], separators=(",", ":"))
    mac = hmac.new(salt.encode("ascii"), record.encode("utf-8"), "sha256").digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def issue_link(app: App, email: str, now: datetime) -> tuple[str, str] | None:
    """A fresh sign-in token and the person's name, for a known person under the rate limit; else None."""
    with app.store.transaction() as tx:
        person = tx.lock_person(email)  # requests for one address count one at a time (any worker)
        if person is None or tx.signin_links_since(email, now - timedelta(hours=1)) >= LINKS_PER_HOUR:
            return None
        random = new_token()
        token = random + record_digest(random, person, tx.actor(person.email))
        expires = now + timedelta(minutes=app.config.web.link_minutes)
        tx.add_signin(SignIn(token_hash(token), person.email, now, expires))
    return token, person.name


def _usable(tx: Transaction, token: str, now: datetime) -> tuple[SignIn, Person] | None:
    """The link and its person, if the link is unused, unexpired, and the person's record is still
    the one it was mailed for; else None."""
    link = tx.signin(token_hash(token))
    if (
        link is None
        or not hmac.compare_digest(link.token_hash, token_hash(token))
        or link.used_at is not None
        or link.expires_at <= now
    ):
        return None
    person = tx.person(link.email)
    if person is None:  # removed, or moved to another address: the link went to the old one
        return None
    random, digest = token[:RANDOM_CHARS], token[RANDOM_CHARS:]
    if not hmac.compare_digest(digest, record_digest(random, person, tx.actor(person.email))):
        return None
    return link, person


def link_is_open(app: App, token: str, now: datetime) -> bool:
    """Whether a link may still be used (the confirming page asks before `redeem` uses it)."""
    with app.store.transaction(write=False) as tx:
        return _usable(tx, token, now) is not None


def redeem(app: App, token: str, now: datetime) -> tuple[str, SignedIn] | None:
    """Use a link once: a new session (its cookie value and who), or None if used, expired, unknown
    or mailed for a record that has changed since."""
    with app.store.transaction() as tx:
        found = _usable(tx, token, now)
        if found is None:
            return None
        link, person = found
        if link.id is None or not tx.use_signin(link.id, now):
            return None
        cookie = new_token()
        signed = SignedIn(
            person.email,
            person.name,
            new_token(),
            token_hash(cookie),
            tx.actor(person.email) or Actor(person.email, ()),
        )
        hours = app.config.web.session_hours
        tx.add_web_session(WebSession(signed.token_hash, person.email, signed.csrf, now, now + timedelta(hours=hours)))
    return cookie, signed


def signed_in(app: App, cookie: str | None, now: datetime) -> SignedIn | None:
    if not cookie:
        return None
    hashed = token_hash(cookie)
    with app.store.transaction(write=False) as tx:
        found = tx.web_session(hashed)
        if found is None:
            return None
        session, person = found
        actor = tx.actor(person.email) or Actor(person.email, ())
    if session.ended_at is not None or session.expires_at <= now or not hmac.compare_digest(session.token_hash, hashed):
        return None
    return SignedIn(person.email, person.name, session.csrf, session.token_hash, actor)


def sign_out(app: App, who: SignedIn, now: datetime, everywhere: bool = False) -> None:
    with app.store.transaction() as tx:
        if everywhere:
            tx.end_web_sessions(now, email=who.email)
        else:
            tx.end_web_sessions(now, token_hash=who.token_hash)


def new_feed(app: App, email: str, now: datetime) -> str:
    """A new secret calendar feed for a person; their earlier feeds stop working."""
    token = new_token()
    with app.store.transaction() as tx:
        tx.lock_person(email)  # two requests at once must not both add a feed the other did not revoke
        tx.revoke_feeds(email, now)
        tx.add_feed(Feed(token_hash(token), email, now))
    return token


def revoke_feeds(app: App, email: str, now: datetime) -> None:
    with app.store.transaction() as tx:
        tx.revoke_feeds(email, now)


def feed_owner(app: App, token: str) -> str | None:
    hashed = token_hash(token)
    with app.store.transaction(write=False) as tx:
        feed = tx.feed(hashed)
    if feed is None or feed.revoked_at is not None or not hmac.compare_digest(feed.token_hash, hashed):
        return None
    return feed.email


def has_feed(app: App, email: str) -> bool:
    with app.store.transaction(write=False) as tx:
        return tx.has_feed(email)
