"""Papers for applicants as PDF: the decision letter (surat keputusan) and the registration receipt.

Who may fetch them:
- the applicant, in the portal, for their own case only (another's case answers 404 and is audited);
- officers who read cases (role and district scope as on the case page);
- the facilitator who registered the person (the receipt, at the end of an assisted registration).

Every download is audited. A letter states the case number, the decision, the reasons the applicant
may read (reason catalogue texts, the rules' texts and the message written *for the applicant*;
never an officer's internal note), the benefits, and how and until when to appeal. It is written in
the reader's language: Indonesian first, English when the reader chose English.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, request
from flask_babel import force_locale, format_date, format_datetime, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from cases.audit import record
from cases.models import Officer
from cases.officers import district_name
from cases.operations import CaseNotFound, case_or_404
from cases.paperpdf import Paper, Section, render
from cases.portal.casefile import appeal_deadline, appeals_of
from cases.statuses import APPROVED_STATUSES, DECIDED_STATUSES, CaseStatus
from engine.db import db, unit_of_work, utcnow
from engine.scope import in_scope
from forms.reason_codes import applicant_reason_texts, reason_text
from integrations.nik import mask_nik

from .auth import roles_required
from .casepages import READERS, case_for_officer_or_404
from .portal import bp as portal_bp
from .portal import rupiah
from .portal.assist import FACILITATOR
from .portal.assist import bp as assist_bp
from .portal.session import applicant_required
from .portal.texts import BENEFIT_PARTS, STATUS_TEXTS
from .refusals import log_refusal

bp = Blueprint("papers", __name__)
PDF = "application/pdf"
# Statuses in which the family is enrolled (a re-check, a payment review or a graduation check runs).
ENROLLED_STATES = APPROVED_STATUSES
DECIDED_STATES = DECIDED_STATUSES


def has_letter(app):
    """True when the case has a decision letter (templates show the link then)."""
    return app.status in DECIDED_STATES


def register(app):
    """Register the officers' routes and the templates' `has_letter` (import this module before the portal's
    blueprints are registered: its applicant and facilitator routes are on them)."""
    app.register_blueprint(bp)
    app.jinja_env.globals["has_letter"] = has_letter


def letter_kind(app, appeals):
    """Which decision letter the case has now, or None before a decision.

    approved | appeal_accepted | rejected | removed | appeal_upheld | graduated
    """
    decided = [a for a, _reply in appeals if a.outcome]
    last = decided[-1].outcome if decided else None
    if app.status in ENROLLED_STATES:
        return "appeal_accepted" if last == "overturn" else "approved"
    if app.status == CaseStatus.REJECTED:
        return "rejected"
    if app.status in (CaseStatus.CLOSED_REJECTED, CaseStatus.REMOVED):
        if last == "uphold":
            return "appeal_upheld"
        return "rejected" if app.status == CaseStatus.CLOSED_REJECTED else "removed"
    if app.status == CaseStatus.GRADUATED:
        return "graduated"
    return None


def _subtitles():
    return {
        "approved": _("Decision on an application for social assistance: approved"),
        "appeal_accepted": _("Decision on an appeal: accepted"),
        "rejected": _("Decision on an application for social assistance: not approved"),
        "removed": _("Decision after a periodic re-check: the family no longer receives assistance"),
        "appeal_upheld": _("Decision on an appeal: not accepted"),
        "graduated": _("Decision: the family graduates from the programme (self-sufficient)"),
    }


def _decision_texts():
    return {
        "approved": _("Your application was approved. Your family is registered for the programmes below."),
        "appeal_accepted": _(
            "Your appeal was accepted and the decision was changed: your family receives the assistance below."
        ),
        "rejected": _("Your application was not approved, for the reasons below."),
        "removed": _(
            "After a periodic re-check your family no longer qualifies and leaves the programme, for the reasons below."
        ),
        "appeal_upheld": _(
            "Your appeal was reviewed by an officer who took no part in the first decision. It was "
            "not accepted: the decision stays, for the reasons below."
        ),
        "graduated": _(
            "Your family has left the programme self-sufficient (graduasi). Payments stop from the next cycle."
        ),
    }


def _now_local():
    return datetime.now(ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Jakarta")))


def _issuer():
    return _("Social Affairs Office of Banyuwangi Regency - social assistance (Tepat)")


def _place(app):
    name = app.district_name or district_name(app.district_code)
    parts = [p for p in (app.village, f"{_('District')} {name}" if name else None) if p]
    return ", ".join(parts) or "-"


def _applicant_facts(app):
    return [(_("Name"), app.applicant_name or "-"), (_("NIK"), mask_nik(app.nik)), (_("Address"), _place(app))]


def _benefit_section(app):
    benefits = app.benefits or {}
    rows = [
        (str(BENEFIT_PARTS.get(c.get("category"), c.get("category"))), rupiah(c.get("annual")))
        for c in benefits.get("components") or []
    ]
    section = Section(
        _("Benefits"),
        paragraphs=[_("Programmes: %(list)s", list=", ".join(app.programmes or []) or "-")],
        rows=rows,
        total=(_("Cash per year"), rupiah(benefits.get("annual_cash_total"))),
    )
    if benefits.get("first_payment"):
        section.after.append(_("First payment: %(amount)s", amount=rupiah(benefits["first_payment"])))
    if benefits.get("pbi_premium_monthly"):
        section.after.append(
            _(
                "Health insurance (PBI) paid for your family: %(amount)s a month",
                amount=rupiah(benefits["pbi_premium_monthly"]),
            )
        )
    return section


def _reasons(app, locale):
    texts = list(applicant_reason_texts(app.reasons, locale))
    for entry in app.explanation or []:
        if entry.get("outcome") == "fail":
            text = entry.get("text_id") if locale == "id" else entry.get("text_en")
            if text and text not in texts:
                texts.append(text)
    return texts


def _appeal_section(app, kind, deadline):
    if kind in ("rejected", "removed"):
        if deadline is not None and utcnow() <= deadline and (kind == "removed" or app.status == CaseStatus.REJECTED):
            return Section(
                _("How to appeal"),
                paragraphs=[
                    _(
                        "If you think this decision is wrong, you may appeal until %(date)s.",
                        date=format_datetime(deadline, "long"),
                    ),
                    _(
                        'Appeal in the portal (open case %(number)s and choose "Appeal the decision"), or ask your '
                        "facilitator or the social affairs office of your district to help you. Add any documents that "
                        "show the reasons no longer apply.",
                        number=app.case_number,
                    ),
                ],
            )
        if deadline is not None:
            return Section(
                _("How to appeal"),
                paragraphs=[
                    _("The appeal window closed on %(date)s.", date=format_datetime(deadline, "long")),
                    _("You may apply again if your situation changes."),
                ],
            )
    if kind == "appeal_upheld":
        return Section(
            _("How to appeal"),
            paragraphs=[_("This decision on your appeal is final. You may apply again if your situation changes.")],
        )
    if kind in ("approved", "appeal_accepted"):
        return Section(
            _("What to do next"),
            paragraphs=[
                _("Nothing to do. Keep your account active; report changes in your family at the village office."),
                _("If you disagree with this decision, ask the social affairs office of your district."),
            ],
        )
    return Section(_("What to do next"), paragraphs=[_("You may apply again if your situation changes.")])


def decision_letter(app, locale):
    """The case's decision letter in `locale` ("id" or "en"), or None before a decision."""
    with force_locale(locale):
        appeals = appeals_of(db.session, app)
        kind = letter_kind(app, appeals)
        if kind is None:
            return None
        deadline = appeal_deadline(db.session, app, current_app.config["BANSOS_APPEAL_WINDOW"])
        facts = [(_("Case number"), app.case_number), (_("Date of the letter"), format_date(_now_local(), "long"))]
        if app.decided_at:
            facts.append((_("Decided on"), format_date(app.decided_at, "long")))
        facts += _applicant_facts(app)
        sections = [Section(_("Decision"), paragraphs=[_decision_texts()[kind]])]
        if kind in ("appeal_accepted", "appeal_upheld"):
            appeal, reply = [(a, r) for a, r in appeals if a.outcome][-1]
            lines = [
                _(
                    "Appeal sent on %(date)s; decided on %(decided)s.",
                    date=format_date(appeal.filed_at, "long"),
                    decided=format_date(appeal.decided_at, "long") if appeal.decided_at else "-",
                )
            ]
            bullets = [reason_text(code, locale) for code in (reply or {}).get("reason_codes") or []]
            if (reply or {}).get("message"):
                lines.append(_("Message from the officer") + ": " + reply["message"])
            sections.append(
                Section(
                    _("The officer's reasons") if bullets or len(lines) > 1 else _("Your appeal"),
                    paragraphs=lines,
                    bullets=bullets,
                )
            )
        if kind in ("rejected", "removed", "appeal_upheld"):
            reasons = _reasons(app, locale)
            paragraphs = [] if reasons else [_("No reason was recorded.")]
            if app.applicant_message and kind != "appeal_upheld":
                paragraphs.append(_("Message from the officer") + ": " + app.applicant_message)
            sections.append(Section(_("Reasons for the decision"), paragraphs=paragraphs, bullets=reasons))
        if kind in ("approved", "appeal_accepted"):
            if app.applicant_message:
                sections.append(Section(_("Message from the officer"), paragraphs=[app.applicant_message]))
            sections.append(_benefit_section(app))
        sections.append(_appeal_section(app, kind, deadline))
        return Paper(
            issuer=_issuer(),
            title=_("DECISION LETTER"),
            subtitle=_subtitles()[kind],
            facts=facts,
            sections=sections,
            lang=locale,
            filename=f"{app.case_number}-letter-{locale}.pdf",
            footer=_(
                "Produced by Tepat on %(date)s. Check this decision in the portal with case number %(number)s.",
                date=format_datetime(utcnow(), "short"),
                number=app.case_number,
            ),
        )


def registration_receipt(app, locale):
    """The receipt of an assisted registration (channel facilitator) in `locale`, else None."""
    if app.channel != "facilitator":
        return None
    with force_locale(locale):
        officer = db.session.execute(select(Officer).where(Officer.username == app.facilitator)).scalar_one_or_none()
        facts = [
            (_("Case number"), app.case_number),
            (_("Registered on"), format_datetime(app.created_at, "long")),
            *_applicant_facts(app),
            (_("Registered by"), f"{officer.name} ({app.facilitator})" if officer else (app.facilitator or "-")),
            (_("Status"), str(STATUS_TEXTS.get(app.status, (app.status, ""))[0])),
        ]
        sections = [
            Section(
                _("What was received"),
                paragraphs=[
                    _(
                        "The application for social assistance (PKH, BPNT, PBI) of the person above was received "
                        "with their consent. Keep this receipt: its case number identifies the application."
                    )
                ],
            ),
            Section(
                _("What happens next"),
                bullets=[
                    _(
                        "The registers are checked (civil registry, DTSEN, employment, assets). Some cases are "
                        "checked by an officer by hand, in up to 3 working days."
                    ),
                    _("The applicant receives a message with the decision; the facilitator can tell them too."),
                    _(
                        "A decision letter states the reasons and, if the application is not approved, how and "
                        "until when to appeal."
                    ),
                ],
            ),
            Section(
                _("How to follow the application"),
                paragraphs=[
                    _(
                        "Sign in to the portal with the digital ID and open case %(number)s, or ask your "
                        "facilitator or the social affairs office of your district.",
                        number=app.case_number,
                    )
                ],
            ),
        ]
        return Paper(
            issuer=_issuer(),
            title=_("REGISTRATION RECEIPT"),
            subtitle=_("Assisted registration"),
            facts=facts,
            sections=sections,
            lang=locale,
            filename=f"{app.case_number}-receipt-{locale}.pdf",
            footer=_("Produced by Tepat on %(date)s.", date=format_datetime(utcnow(), "short")),
        )


def _language():
    """The reader's language: English if they chose it, else Indonesian (also `?lang=` on the link)."""
    asked = request.args.get("lang")
    if asked in ("id", "en"):
        return asked
    return "en" if str(get_locale() or "id").startswith("en") else "id"


def _pdf(paper, actor, action, app):
    if paper is None:
        abort(404)
    with unit_of_work(db.session):
        record(
            db.session,
            actor,
            action,
            target_type="case",
            target_id=app.case_number,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail={"lang": paper.lang},
        )
    download = request.args.get("download") == "1"
    return Response(
        render(paper),
        mimetype=PDF,
        headers={
            "Content-Disposition": f"{'attachment' if download else 'inline'}; filename={paper.filename}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- the applicant (portal) ---


@portal_bp.get("/cases/<case_number>/letter.pdf")
@applicant_required
def letter(case_number):
    """The applicant's decision letter of their own case."""
    from .portal.mycase import current_applicant, own_case_or_404

    app = own_case_or_404(case_number)
    return _pdf(decision_letter(app, _language()), current_applicant().audit_actor, "letter.download", app)


@portal_bp.get("/cases/<case_number>/receipt.pdf")
@applicant_required
def receipt(case_number):
    """The registration receipt of the applicant's own case (registered by a facilitator)."""
    from .portal.mycase import current_applicant, own_case_or_404

    app = own_case_or_404(case_number)
    return _pdf(registration_receipt(app, _language()), current_applicant().audit_actor, "receipt.download", app)


# --- officers ---


@bp.get("/cases/<case_number>/letter.pdf")
@roles_required(*READERS)
def letter_for_officer(case_number):
    """A case's decision letter, for officers of its district (to print for the applicant)."""
    app = case_for_officer_or_404(case_number)
    return _pdf(decision_letter(app, _language()), current_user.actor, "letter.download", app)


@bp.get("/cases/<case_number>/receipt.pdf")
@roles_required(*READERS)
def receipt_for_officer(case_number):
    """A case's registration receipt, for officers of its district."""
    app = case_for_officer_or_404(case_number)
    return _pdf(registration_receipt(app, _language()), current_user.actor, "receipt.download", app)


# --- the facilitator who registered the person ---


@assist_bp.get("/cases/<case_number>/receipt.pdf")
@roles_required(FACILITATOR)
def receipt_of_registration(case_number):
    """The receipt of a registration this facilitator made, in one of their districts (else 404)."""
    try:
        app = case_or_404(db.session, case_number)
    except CaseNotFound:
        abort(404)
    actor = current_user.actor
    if app.channel != "facilitator" or app.facilitator != actor.id or not in_scope(actor, app.district_code):
        log_refusal("receipt.refused", "case", case_number, reason="not_registered_by_you")
        abort(404)
    return _pdf(registration_receipt(app, _language()), actor, "receipt.download", app)
