"""Portal sign-in through the sandbox digital ID: OpenID Connect, NIK + birth date, a one-time code by SMS."""

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select

from cases.audit import AuditEntry
from engine.db import db
from integrations.nik import mask_nik
from integrations.sandbox.tables import outbox
from tests.integration.portal_helpers import (  # noqa: F401  (fixtures)
    birth_date_of,
    csrf_of,
    enter_code,
    follow_callback,
    latest_code,
    officer_login,
    officer_logins,
    portal,
    sign_in_applicant,
    start_sign_in,
)


def actions():
    db.session.expire_all()
    return [(e.action, e.target_id) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def codes_sent(nik):
    db.session.expire_all()
    return db.session.scalar(
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.recipient_nik == nik, outbox.c.template == "signin_code")
    )


def travel(minutes):
    return time_machine.travel(datetime.now(UTC) + timedelta(minutes=minutes), tick=True)


def test_sign_in_with_nik_birth_date_and_code_then_sign_out(portal, svc, personas):
    nik = personas["civil_servant"]
    assert portal.get("/portal/home").status_code == 302
    response = start_sign_in(portal, nik)
    assert response.status_code == 302 and response.headers["Location"].endswith("/idp/verify")
    assert codes_sent(nik) == 1  # by SMS through the notifier, to the phone on record
    page = portal.get("/idp/verify").get_data(as_text=True)
    assert latest_code(nik) not in page  # the demo setting is off: the code is not on the screen
    callback = follow_callback(portal, enter_code(portal, latest_code(nik)))
    assert callback.headers["Location"].endswith("/portal/home")
    page = portal.get("/portal/home")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert nik not in html and nik[-4:] in html and 'lang="id"' in html
    assert ("applicant.sign_in", mask_nik(nik)) in actions()
    cookie = portal.get_cookie("session").value
    token = csrf_of(html)
    assert portal.post("/portal/signout", data={"csrf_token": token}).status_code == 302
    assert portal.get("/portal/home").status_code == 302
    portal.set_cookie("session", cookie)  # the old cookie: the session was ended on the server
    assert portal.get("/portal/home").status_code == 302
    assert "applicant.sign_out" in [a for a, _ in actions()]


def test_demo_setting_shows_the_code_on_screen(portal, svc, personas, monkeypatch, app):
    monkeypatch.setitem(app.config, "BANSOS_DEMO_SHOW_OTP", True)
    nik = personas["high_wage"]
    start_sign_in(portal, nik)
    page = portal.get("/idp/verify").get_data(as_text=True)
    assert 'data-testid="demo-otp">' + latest_code(nik) in page


def test_wrong_birth_date_unknown_nik_and_malformed_nik_are_refused_alike(portal, svc, personas):
    nik = personas["civil_servant"]
    born = datetime.fromisoformat(birth_date_of(nik)).date()
    wrong = start_sign_in(portal, nik, (born + timedelta(days=1)).isoformat())
    assert wrong.status_code == 400
    text = wrong.get_data(as_text=True)
    assert "NIK dan tanggal lahir tidak cocok" in text
    unknown = start_sign_in(portal, "3510142011789999", "1978-11-20")
    assert unknown.status_code == 400 and "NIK dan tanggal lahir tidak cocok" in unknown.get_data(as_text=True)
    malformed = start_sign_in(portal, "35101420117", "1978-11-20")
    html = malformed.get_data(as_text=True)
    assert malformed.status_code == 400 and 'aria-describedby="nik-help nik-err"' in html and "16 digit" in html
    assert codes_sent(nik) == 0
    assert ("idp.identity_failed", mask_nik(nik)) in actions()


def test_code_expires_after_five_minutes(portal, svc, personas):
    nik = personas["high_wage"]
    start_sign_in(portal, nik)
    code = latest_code(nik)
    with travel(6):
        response = enter_code(portal, code)
        assert response.status_code == 400
        assert "Kode sudah kedaluwarsa" in response.get_data(as_text=True)
    assert portal.get("/portal/home").status_code == 302


def test_codes_and_authorization_codes_are_single_use(portal, svc, personas):
    nik = personas["high_wage"]
    start_sign_in(portal, nik)
    code = latest_code(nik)
    redirect = enter_code(portal, code)
    location = redirect.headers["Location"]
    assert follow_callback(portal, redirect).headers["Location"].endswith("/portal/home")
    # The provider's authorization code cannot be exchanged twice.
    auth_code = location.split("code=")[1].split("&")[0]
    again = portal.post(
        "/idp/token",
        data={
            "grant_type": "authorization_code",
            "code": auth_code,
            "redirect_uri": "http://localhost/portal/callback",
            "code_verifier": "x" * 64,
        },
        auth=("tepat-portal", "sandbox-client-secret"),
    )
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    # The browser's answer cannot be replayed into another sign-in (state is single use too).
    replay = follow_callback(portal, redirect)
    assert replay.headers["Location"].endswith("/portal/")
    # A used one-time code does not work again.
    server = svc_server()
    from integrations.idp.sandbox import ChallengeRefused

    handle = db.session.execute(select(server.t.challenges.c.handle)).scalar_one()
    try:
        server.verify_code(handle, code, "127.0.0.1")
        raise AssertionError("a used code was accepted")
    except ChallengeRefused as exc:
        assert exc.code == "CODE_USED"


def svc_server():
    from web.portal.wiring import portal_services

    return portal_services().sandbox_idp


def test_brute_forced_code_locks_the_nik_and_is_audited(portal, svc, personas):
    nik = personas["rich_decile"]
    start_sign_in(portal, nik)
    first = enter_code(portal, "000000" if latest_code(nik) != "000000" else "111111")
    assert first.status_code == 400 and "2 kali percobaan lagi" in first.get_data(as_text=True)
    for _ in range(2):
        response = enter_code(portal, "999999" if latest_code(nik) != "999999" else "888888")
    assert "Terlalu banyak kode salah" in response.get_data(as_text=True)  # this code is used up
    # A new code; two more wrong guesses reach five failures for the NIK: locked.
    start_sign_in(portal, nik)
    enter_code(portal, "123450" if latest_code(nik) != "123450" else "123451")
    locked = enter_code(portal, "123452" if latest_code(nik) != "123452" else "123453")
    assert locked.status_code == 429 and "terkunci selama 30 menit" in locked.get_data(as_text=True)
    # Even the right code, or a new code request, is refused while locked.
    page = start_sign_in(portal, nik)
    assert page.status_code == 429 and "terkunci" in page.get_data(as_text=True)
    assert codes_sent(nik) == 2
    masked = mask_nik(nik)
    assert ("idp.locked", masked) in actions() and ("idp.code_failed", masked) in actions()
    with travel(31):
        assert start_sign_in(portal, nik).status_code == 302
        follow_callback(portal, enter_code(portal, latest_code(nik)))
        assert portal.get("/portal/home").status_code == 200


def test_code_requests_are_rate_limited_per_nik_and_per_client_address(portal, svc, personas, population):
    nik = personas["eligible_head_without_photo"]
    for _ in range(3):
        assert start_sign_in(portal, nik).status_code == 302
    limited = start_sign_in(portal, nik)
    assert limited.status_code == 429 and "Terlalu banyak kode diminta" in limited.get_data(as_text=True)
    assert codes_sent(nik) == 3
    assert ("idp.rate_limited", mask_nik(nik)) in actions()
    with travel(16):
        assert start_sign_in(portal, nik).status_code == 302
    # One address asking codes for many people is stopped too (10 codes in 15 minutes).
    others = [n for n in population["photo_holders"]][:7] + [
        personas[k] for k in ("civil_servant", "high_wage", "deceased")
    ]
    statuses = []
    for other in others:
        if other == nik:
            continue
        statuses.append(start_sign_in(portal, other).status_code)
    assert 429 in statuses
    elsewhere = portal.get("/portal/signin", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 302


def test_sessions_expire_when_idle_and_after_the_maximum(portal, svc, personas):
    nik = personas["civil_servant"]
    sign_in_applicant(portal, nik)
    with travel(21):
        response = portal.get("/portal/home")
        assert response.status_code == 302
        assert "Sesi Anda telah berakhir" in portal.get(response.headers["Location"]).get_data(as_text=True)
    sign_in_applicant(portal, nik)
    for step in range(1, 18):  # active every 15 minutes, but not longer than 4 hours in all
        with travel(15 * step):
            status = portal.get("/portal/home").status_code
        assert status == (200 if 15 * step < 240 else 302), step


def test_officer_and_applicant_sessions_are_separate(portal, svc, personas, officer_logins):
    officer_login(portal, "p_caseworker")
    assert portal.get("/inbox").status_code == 200
    assert portal.get("/portal/home").status_code == 302
    sign_in_applicant(portal, personas["civil_servant"])  # signing in as an applicant signs the officer out
    assert portal.get("/portal/home").status_code == 200
    assert portal.get("/inbox").status_code == 302


def test_next_path_is_kept_but_never_an_open_redirect(portal, svc, personas):
    nik = personas["civil_servant"]
    start_sign_in(portal, nik, next_path="//evil.example/x")
    callback = follow_callback(portal, enter_code(portal, latest_code(nik)))
    assert callback.headers["Location"].endswith("/portal/home")


def test_provider_refuses_bad_authorization_requests(portal, svc):
    base = "/idp/authorize?response_type=code&scope=openid&state=abcdefgh12&nonce=abcdefgh12"
    pkce = "&code_challenge_method=S256&code_challenge=" + "a" * 43
    good_client = "&client_id=tepat-portal&redirect_uri=http://localhost/portal/callback"
    assert portal.get(base + pkce + good_client).status_code == 200
    assert portal.get(base + pkce + "&client_id=evil&redirect_uri=http://localhost/portal/callback").status_code == 400
    foreign = portal.get(base + pkce + "&client_id=tepat-portal&redirect_uri=https://evil.example/portal/callback")
    assert foreign.status_code == 400  # never redirected to an unregistered address
    no_pkce = portal.get(base + good_client)
    assert no_pkce.status_code == 302 and "error=invalid_request" in no_pkce.headers["Location"]
    assert no_pkce.headers["Location"].startswith("http://localhost/portal/callback?")
    wrong_secret = portal.post(
        "/idp/token", data={"grant_type": "authorization_code", "code": "x"}, auth=("tepat-portal", "guess")
    )
    assert wrong_secret.status_code == 401 and wrong_secret.get_json()["error"] == "invalid_client"
    assert portal.get("/idp/jwks").get_json()["keys"][0]["kty"] == "RSA"
    assert "d" not in portal.get("/idp/jwks").get_json()["keys"][0]  # never the private key


def test_cancel_at_the_provider_returns_without_signing_in(portal, svc, personas):
    response = portal.get("/portal/signin")
    page = portal.get(response.headers["Location"]).get_data(as_text=True)
    cancelled = portal.post("/idp/cancel", data={"csrf_token": csrf_of(page)})
    assert "error=access_denied" in cancelled.headers["Location"]
    back = follow_callback(portal, cancelled)
    assert back.headers["Location"].endswith("/portal/")
    assert "Masuk dibatalkan" in portal.get("/portal/").get_data(as_text=True)


def test_the_pending_sign_in_survives_a_stale_session_cookie_and_is_single_use(portal, svc, personas):
    from tests.integration.portal_helpers import birth_date_of, csrf_of, enter_code, follow_callback, latest_code

    nik = personas["civil_servant"]
    portal.get("/portal/")
    stale = portal.get_cookie("session")
    response = portal.get("/portal/signin")
    assert response.status_code == 302
    # A response racing the sign-in (an icon, a second tab) writes back the session as it was before.
    if stale is not None:
        portal.set_cookie("session", stale.value)
    else:
        portal.delete_cookie("session")
    page = portal.get(response.headers["Location"])
    answer = portal.post(
        "/idp/authorize",
        data={"nik": nik, "birth_date": birth_date_of(nik), "csrf_token": csrf_of(page.get_data(as_text=True))},
    )
    assert answer.status_code == 302
    sent = enter_code(portal, latest_code(nik))
    callback_url = sent.headers["Location"]
    callback = follow_callback(portal, sent)
    assert callback.headers["Location"].endswith("/portal/home")
    # The same answer replayed finds no pending sign-in.
    replay = portal.get(callback_url[callback_url.index("/portal/") :])
    assert replay.status_code == 302 and replay.headers["Location"].endswith("/portal/")
