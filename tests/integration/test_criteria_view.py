"""The criteria list in plain words: each rule once, review grounds never as reasons of a rejection,
explanations written before the rule texts were kept still read sensibly."""

from web.criteria_view import criteria_rows, decision_reasons

OLD_PASS = {
    "criterion": "DECEASED",
    "effect": "reject",
    "outcome": "pass",
    "facts": {"alive": True},
    "text_id": "Memenuhi syarat: Hidup",
    "text_en": "Criterion met: Alive",
}
NEW_PASS = {
    **OLD_PASS,
    "rule_text_id": "Pemohon tercatat meninggal dunia di Dukcapil.",
    "rule_text_en": "The applicant is recorded as deceased in the civil registry.",
}
FACE = {
    "criterion": "FACE_CANNOT_DECIDE",
    "effect": "review",
    "outcome": "review",
    "facts": {"face_outcome": "cannot_decide"},
    "text_id": "Pencocokan wajah tidak dapat memutuskan; perlu verifikasi petugas.",
    "text_en": "The face check could not decide; an officer must verify it.",
}
CAR = {
    "criterion": "FOUR_WHEEL_VEHICLE",
    "effect": "reject",
    "outcome": "fail",
    "facts": {"four_wheel_vehicles": 2},
    "text_id": "Keluarga memiliki kendaraan roda empat.",
    "text_en": "The household owns a four-wheeled vehicle.",
}


def test_each_rule_once_in_plain_words(app):
    with app.test_request_context():
        rows = criteria_rows([NEW_PASS, CAR, FACE, {**CAR, "outcome": "pass"}], "review")
        assert [(r["rule"], r["answer"]) for r in rows] == [
            ("Pemohon tercatat meninggal dunia di Dukcapil", "Tidak"),
            ("Keluarga memiliki kendaraan roda empat", "Ya: alasan penolakan"),
            ("Pencocokan wajah tidak dapat memutuskan", "Ya: petugas harus memeriksa"),
        ]
        assert rows[2]["facts"] == [("Pencocokan wajah", "tidak dapat memutuskan")]
        # An explanation from before the rule texts were kept: the rule's label, "criterion met".
        assert [(r["rule"], r["answer"]) for r in criteria_rows([OLD_PASS], "approve")] == [
            ("Hidup", "Memenuhi syarat")
        ]


def test_could_not_decide_is_never_a_reason_for_rejection(app):
    with app.test_request_context():
        [face] = criteria_rows([FACE], "reject")
        assert face["kind"] == "review_unused" and "tidak dipakai" in face["answer"]
    reasons = [
        {"code": "FOUR_WHEEL_VEHICLE", "effect": "reject"},
        {"code": "FACE_CANNOT_DECIDE", "effect": "review"},
        {"code": "OFFICER_REASON", "by": "officer"},
    ]
    assert [r["code"] for r in decision_reasons(reasons, "reject")] == ["FOUR_WHEEL_VEHICLE", "OFFICER_REASON"]
    assert len(decision_reasons(reasons, "review")) == 3
