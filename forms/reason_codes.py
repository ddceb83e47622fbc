"""The reason codes: ONE catalogue of every code a decision, a re-check or an objection can give, with its
texts. The task forms (only listed codes are accepted), the officers' labels, the applicant's portal page,
notices, papers, the CLI, the API, the targeting report and the community objections all read it here;
the diagrams' own reason texts (processes/eligibility.dmn, application.bpmn) are checked against it at
every deploy (engine/contracts.py `reason_problems`, wired in web.process_contracts).

Each code has the applicant's sentence in Indonesian and English (`id`, `en`) and a short label for
officers (`label_id`, `label_en`). An officer's free-text note never reaches the applicant: the applicant
sees these texts, plus the message the officer wrote *for the applicant* in the field labelled as such.

Texts that had drifted apart before this catalogue (kept: the first): WAGE_ABOVE_MINIMUM (officer form;
the DMN said "a wage reported to BPJS Ketenagakerjaan"), CIVIL_SERVANT_HOUSEHOLD Indonesian (officer
form; the DMN said "ASN/TNI/Polri"), FACE_NOT_MATCHED (officer form; the DMN added "an officer must
verify it", wrong once an officer refused), COMPANY_OWNER (the DMN's "registered owner or director";
the form said "owns or manages"), DECILE_ABOVE_CUTOFF (officer form, plainer for an applicant; the DMN's
"(deciles 1-5)" goes stale when an administrator changes the table), NO_PROGRAMME (the portal's text with
what to do; the diagram and the approval warning carried two shorter ones).
"""

from dataclasses import dataclass
from enum import StrEnum

from flask_babel import get_locale


class ReasonCode(StrEnum):
    # the rules (processes/eligibility.dmn) and the officers' rejections
    IDENTITY_NOT_CONFIRMED = "IDENTITY_NOT_CONFIRMED"
    FACE_NOT_MATCHED = "FACE_NOT_MATCHED"
    FACE_CANNOT_DECIDE = "FACE_CANNOT_DECIDE"
    DUPLICATE_FACE_SUSPECTED = "DUPLICATE_FACE_SUSPECTED"
    DECEASED = "DECEASED"
    CIVIL_SERVANT_HOUSEHOLD = "CIVIL_SERVANT_HOUSEHOLD"
    STATE_PAID_EMPLOYEE = "STATE_PAID_EMPLOYEE"
    VILLAGE_OFFICIAL = "VILLAGE_OFFICIAL"
    CERTIFIED_PROFESSIONAL = "CERTIFIED_PROFESSIONAL"
    WAGE_ABOVE_MINIMUM = "WAGE_ABOVE_MINIMUM"
    FOUR_WHEEL_VEHICLE = "FOUR_WHEEL_VEHICLE"
    ELECTRICITY_NON_SUBSIDISED = "ELECTRICITY_NON_SUBSIDISED"
    ASSETS_ABOVE_LIMIT = "ASSETS_ABOVE_LIMIT"
    COMPANY_OWNER = "COMPANY_OWNER"
    DECILE_ABOVE_CUTOFF = "DECILE_ABOVE_CUTOFF"
    NOT_IN_DTSEN = "NOT_IN_DTSEN"
    DUPLICATE = "DUPLICATE"
    # the enrolment check (processes/application.bpmn, check_enrolment)
    NO_PROGRAMME = "NO_PROGRAMME"
    # an appeal not accepted
    APPEAL_EVIDENCE_INSUFFICIENT = "APPEAL_EVIDENCE_INSUFFICIENT"
    APPEAL_REGISTRY_CONFIRMS = "APPEAL_REGISTRY_CONFIRMS"
    APPEAL_UPDATE_REGISTRY_FIRST = "APPEAL_UPDATE_REGISTRY_FIRST"
    # community objections (cases/objections.py): grounds of their own, and the re-check's reason
    NOT_IN_VILLAGE = "NOT_IN_VILLAGE"
    AID_ELSEWHERE = "AID_ELSEWHERE"
    COMMUNITY_OBJECTION = "COMMUNITY_OBJECTION"
    OTHER = "OTHER"


@dataclass(frozen=True)
class Reason:
    id: str  # the applicant's sentence, Indonesian
    en: str  # the applicant's sentence, English
    label_id: str  # short label for officers (and the objection form), Indonesian
    label_en: str


R = ReasonCode
REASONS = {
    R.IDENTITY_NOT_CONFIRMED: Reason(
        "Identitas pemohon tidak dapat dipastikan di Dukcapil.",
        "The applicant's identity could not be confirmed in the civil registry.",
        "Identitas tidak terkonfirmasi",
        "Identity not confirmed",
    ),
    R.FACE_NOT_MATCHED: Reason(
        "Foto tidak cocok dengan foto pemohon di Dukcapil.",
        "The photo does not match the civil registry's photo of the applicant.",
        "Wajah tidak cocok",
        "Face does not match",
    ),
    R.FACE_CANNOT_DECIDE: Reason(
        "Pencocokan wajah tidak dapat memutuskan; perlu verifikasi petugas.",
        "The face check could not decide; an officer must verify it.",
        "Cocok wajah tidak dapat memutuskan",
        "Face check undecided",
    ),
    R.DUPLICATE_FACE_SUSPECTED: Reason(
        "Wajah yang sama ditemukan pada pendaftaran dengan NIK lain; petugas akan memeriksa.",
        "The same face was found in an application under another NIK; an officer will check.",
        "Wajah sama di NIK lain",
        "Same face under another NIK",
    ),
    R.DECEASED: Reason(
        "Pemohon tercatat meninggal dunia di Dukcapil.",
        "The applicant is recorded as deceased in the civil registry.",
        "Meninggal dunia",
        "Deceased",
    ),
    R.CIVIL_SERVANT_HOUSEHOLD: Reason(
        "Ada anggota keluarga yang menjadi ASN, TNI atau Polri (aktif atau pensiun).",
        "A household member is a civil servant, soldier or police officer (active or retired).",
        "Keluarga ASN/TNI/Polri",
        "Civil servant, soldier or police household",
    ),
    R.STATE_PAID_EMPLOYEE: Reason(
        "Ada anggota keluarga yang digaji APBN/APBD atau BUMN/BUMD.",
        "A household member is paid from state or regional budgets or by a state-owned company.",
        "Digaji APBN/APBD atau BUMN/BUMD",
        "Paid by the state or a state-owned company",
    ),
    R.VILLAGE_OFFICIAL: Reason(
        "Ada anggota keluarga perangkat desa.",
        "A household member is a village official.",
        "Perangkat desa",
        "Village official",
    ),
    R.CERTIFIED_PROFESSIONAL: Reason(
        "Ada anggota keluarga guru atau tenaga kesehatan bersertifikat.",
        "A household member is a certified teacher or health worker.",
        "Guru/tenaga kesehatan bersertifikat",
        "Certified teacher or health worker",
    ),
    R.WAGE_ABOVE_MINIMUM: Reason(
        "Ada anggota keluarga yang berpenghasilan di atas upah minimum kabupaten/kota.",
        "A household member earns more than the regional minimum wage.",
        "Penghasilan di atas UMK",
        "Earns above the regional minimum wage",
    ),
    R.FOUR_WHEEL_VEHICLE: Reason(
        "Keluarga memiliki kendaraan roda empat.",
        "The household owns a four-wheeled vehicle.",
        "Memiliki mobil",
        "Owns a car",
    ),
    R.ELECTRICITY_NON_SUBSIDISED: Reason(
        "Listrik 900 VA atau lebih tanpa subsidi.",
        "The electricity connection is 900 VA or more and not subsidised.",
        "Listrik 900 VA atau lebih tanpa subsidi",
        "Electricity of 900 VA or more, not subsidised",
    ),
    R.ASSETS_ABOVE_LIMIT: Reason(
        "Aset keluarga melebihi batas program.",
        "The household's assets are above the programme's limits.",
        "Aset di atas batas",
        "Assets above the limits",
    ),
    R.COMPANY_OWNER: Reason(
        "Anggota keluarga terdaftar sebagai pemilik atau direksi perusahaan.",
        "A household member is a registered owner or director of a company.",
        "Pemilik atau direksi perusahaan",
        "Owner or director of a company",
    ),
    R.DECILE_ABOVE_CUTOFF: Reason(
        "Peringkat kesejahteraan (desil) keluarga di DTSEN berada di atas batas program.",
        "The household's welfare rank in DTSEN is above the programme's limit.",
        "Desil DTSEN di atas batas",
        "DTSEN decile above the cut-off",
    ),
    R.NOT_IN_DTSEN: Reason(
        "Keluarga belum terdaftar di DTSEN; perlu verifikasi petugas.",
        "The household is not in DTSEN; an officer must verify it.",
        "Belum terdaftar di DTSEN",
        "Not in DTSEN",
    ),
    R.DUPLICATE: Reason(
        "Keluarga sudah memiliki permohonan lain atau sudah menerima bantuan ini.",
        "The family already has another application or already receives this assistance.",
        "Permohonan atau penerima ganda",
        "Duplicate application or recipient",
    ),
    R.NO_PROGRAMME: Reason(
        "Keluarga tidak memenuhi syarat program bansos mana pun (PKH, BPNT, atau PBI): keluarga belum terdaftar "
        "di DTSEN, atau desil kesejahteraannya di DTSEN di atas batas setiap program, sehingga tidak ada program "
        "yang dapat menyalurkan bantuan. Langkah selanjutnya: minta kantor desa/kelurahan mendaftarkan keluarga "
        "Anda ke DTSEN atau memperbarui datanya, lalu ajukan permohonan kembali.",
        "The family qualifies for no assistance programme (PKH, BPNT or PBI): it is not registered in DTSEN, or "
        "its DTSEN welfare decile is above the cut-off of every programme, so no programme can pay. What to do: "
        "ask your village office to register your family in DTSEN or to update its data, then apply again.",
        "Tidak ada program yang memenuhi syarat",
        "No programme qualifies",
    ),
    R.APPEAL_EVIDENCE_INSUFFICIENT: Reason(
        "Bukti yang dikirim tidak menunjukkan bahwa alasan keputusan sudah tidak berlaku.",
        "The evidence sent does not show that the reasons for the decision no longer apply.",
        "Bukti tidak cukup",
        "Evidence insufficient",
    ),
    R.APPEAL_REGISTRY_CONFIRMS: Reason(
        "Data resmi masih membenarkan alasan keputusan tersebut.",
        "The registers still confirm the reasons for the decision.",
        "Data resmi membenarkan keputusan",
        "Registers confirm the decision",
    ),
    R.APPEAL_UPDATE_REGISTRY_FIRST: Reason(
        "Perubahan yang Anda sampaikan harus dicatat dulu di data resmi (melalui kantor desa atau Dukcapil); "
        "setelah itu Anda dapat mengajukan permohonan lagi.",
        "The change you describe must first be recorded in the registers (at the village office or the civil "
        "registry); then you may apply again.",
        "Perbarui data resmi dulu",
        "Update the registers first",
    ),
    R.NOT_IN_VILLAGE: Reason(
        "Tidak tinggal di desa ini / tidak ditemukan di alamat.",
        "Does not live in this village / not found at the address.",
        "Tidak tinggal di desa ini / tidak ditemukan di alamat",
        "Does not live in this village / not found at the address",
    ),
    R.AID_ELSEWHERE: Reason(
        "Sudah menerima bantuan yang sama di tempat lain.",
        "Already receives the same aid elsewhere.",
        "Sudah menerima bantuan yang sama di tempat lain",
        "Already receives the same aid elsewhere",
    ),
    R.COMMUNITY_OBJECTION: Reason(
        "Sanggahan masyarakat dinyatakan beralasan oleh petugas.",
        "A community objection was upheld by an officer.",
        "Sanggahan masyarakat diterima",
        "Community objection upheld",
    ),
    R.OTHER: Reason(
        "Alasan lain, dijelaskan dalam pesan petugas.",
        "Another reason, explained in the officer's message.",
        "Alasan lain",
        "Another reason",
    ),
}

# Shown instead of any text an officer wrote before reasons had codes, or for a code not listed.
GENERIC_TEXT = Reason(
    "Petugas memutuskan setelah memeriksa permohonan Anda. Tanyakan ke Dinas Sosial kabupaten/kota Anda jika "
    "memerlukan penjelasan lebih lanjut.",
    "An officer decided after checking your application. Ask the social affairs office of your district if you "
    "need more detail.",
    "Alasan tidak tercatat",
    "Reason not recorded",
)

# Why an officer rejects an application (case review, approval): the codes the forms accept, in order.
REJECTION_CODES = (
    R.IDENTITY_NOT_CONFIRMED,
    R.FACE_NOT_MATCHED,
    R.DECEASED,
    R.DECILE_ABOVE_CUTOFF,
    R.CIVIL_SERVANT_HOUSEHOLD,
    R.WAGE_ABOVE_MINIMUM,
    R.ASSETS_ABOVE_LIMIT,
    R.COMPANY_OWNER,
    R.DUPLICATE,
    R.OTHER,
)
# Why an appeals officer upholds a decision (the appeal is not accepted).
APPEAL_CODES = (R.APPEAL_EVIDENCE_INSUFFICIENT, R.APPEAL_REGISTRY_CONFIRMS, R.APPEAL_UPDATE_REGISTRY_FIRST, R.OTHER)
# The grounds of processes/eligibility.dmn that reject a family; an appeals officer who overturns names the
# one they judged wrong (forms.tasks.OVERTURNABLE_GROUNDS adds ALL).
RULE_REJECTION_CODES = (
    R.DECEASED,
    R.CIVIL_SERVANT_HOUSEHOLD,
    R.STATE_PAID_EMPLOYEE,
    R.VILLAGE_OFFICIAL,
    R.CERTIFIED_PROFESSIONAL,
    R.WAGE_ABOVE_MINIMUM,
    R.FOUR_WHEEL_VEHICLE,
    R.ELECTRICITY_NON_SUBSIDISED,
    R.COMPANY_OWNER,
    R.DECILE_ABOVE_CUTOFF,
)
# Codes whose catalogue text the applicant reads even when the rules stored one (it says what to do next).
RULE_TEXT_CODES = (R.NO_PROGRAMME,)
# A community objection's ground (stored on Objection.ground, so the older codes stay) -> its reason code.
OBJECTION_GROUNDS = {
    "DECEASED": R.DECEASED,
    "NOT_IN_VILLAGE": R.NOT_IN_VILLAGE,
    "CIVIL_SERVANT": R.CIVIL_SERVANT_HOUSEHOLD,
    "STATE_PAID": R.STATE_PAID_EMPLOYEE,
    "VILLAGE_OFFICIAL": R.VILLAGE_OFFICIAL,
    "CERTIFIED_PROFESSIONAL": R.CERTIFIED_PROFESSIONAL,
    "COMPANY_OWNER": R.COMPANY_OWNER,
    "WAGE_ABOVE_MINIMUM": R.WAGE_ABOVE_MINIMUM,
    "LARGE_ELECTRICITY": R.ELECTRICITY_NON_SUBSIDISED,
    "FOUR_WHEEL_VEHICLE": R.FOUR_WHEEL_VEHICLE,
    "AID_ELSEWHERE": R.AID_ELSEWHERE,
    "OTHER": R.OTHER,
}
del R

# Kept for the readers of the former tables: code -> English text.
REJECTION_REASONS = {code.value: REASONS[code].en for code in REJECTION_CODES}
APPEAL_REASONS = {code.value: REASONS[code].en for code in APPEAL_CODES}
RULE_REASONS = {code.value: REASONS[code].en for code in RULE_TEXT_CODES}
CATALOGUE = {**REJECTION_REASONS, **APPEAL_REASONS}
OTHER = ReasonCode.OTHER.value


def _reason(code):
    try:
        return REASONS[ReasonCode(code)]
    except ValueError:
        return GENERIC_TEXT


def _locale():
    return "en" if str(get_locale() or "id") == "en" else "id"


def reason_text(code, locale):
    """The applicant's sentence for `code` in `locale` ("id" or "en"; the generic text for a code not listed)."""
    reason = _reason(code)
    return reason.en if locale == "en" else reason.id


def reason_label(code):
    """The code's applicant sentence in the current language (the officers' forms show what the applicant reads)."""
    return reason_text(code, _locale())


def short_label(code, locale=None):
    """The officers' short label of `code` in `locale` (the current language when None)."""
    reason = _reason(code)
    return reason.label_en if (locale or _locale()) == "en" else reason.label_id


def officer_written(reason):
    """True if a stored reason came from an officer (its text, if any, is the officer's own words).

    Reasons from the rules carry an Indonesian and an English text from the DMN table, which differ;
    an officer's reason is marked `by: officer` (since codes) or, before codes, carried the officer's
    free-text note as both texts.
    """
    return (
        reason.get("by") == "officer"
        or not (reason.get("id") or reason.get("en"))
        or reason.get("id") == reason.get("en")
    )


def applicant_reason_text(reason, locale):
    """What the applicant reads for one stored reason: the rule's text, or the code's catalogue text.

    Never an officer's free text: a reason written before codes had texts shows the catalogue text
    of its code ("OTHER" and unknown codes show the generic text). A rules reason with a catalogue
    text of its own (RULE_REASONS) shows that text, which says what to do next.
    """
    if reason.get("code") in RULE_REASONS:
        return reason_text(reason["code"], locale)
    if not officer_written(reason):
        return reason.get("id") if locale == "id" else reason.get("en")
    code = reason.get("code")
    if code == OTHER and reason.get("by") != "officer":
        code = None  # "other" used to mean "see my note"; the note is not the applicant's to read
    return reason_text(code, locale)


def applicant_reason_texts(reasons, locale):
    """The applicant's texts for a list of stored reasons, each once, in order."""
    texts = []
    for reason in reasons or []:
        text = applicant_reason_text(reason, locale)
        if text not in texts:
            texts.append(text)
    return texts
