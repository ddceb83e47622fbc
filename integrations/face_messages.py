"""What each face-check reason code tells the applicant or officer, in Indonesian and English.

``FACE_MESSAGES`` maps a reason code to ``(indonesian, english)``; some texts hold ``{placeholders}``
that the exception or result carrying the code supplies (see ``face_message``).
"""

from __future__ import annotations

FACE_MESSAGES: dict[str, tuple[str, str]] = {
    # Photo refused: the applicant can fix these by taking or sending another photo.
    "IMAGE_INVALID": (
        "Berkas foto rusak atau tidak lengkap. Ambil atau unggah ulang foto.",
        "The photo file is damaged or incomplete. Take or upload the photo again.",
    ),
    "IMAGE_TYPE_NOT_ALLOWED": (
        "Jenis berkas ini tidak diterima. Kirim foto berformat JPEG, PNG, atau WebP.",
        "This type of file is not accepted. Send a JPEG, PNG or WebP photo.",
    ),
    "IMAGE_TOO_LARGE": (
        "Berkas foto terlalu besar (maksimal {max_mb} MB). Kirim foto yang lebih kecil.",
        "The photo file is too large (at most {max_mb} MB). Send a smaller photo.",
    ),
    "IMAGE_DIMENSIONS_TOO_LARGE": (
        "Ukuran gambar terlalu besar (maksimal {max_side} piksel per sisi dan {max_megapixels} megapiksel).",
        "The picture is too large (at most {max_side} pixels a side and {max_megapixels} megapixels).",
    ),
    "NO_FACE": (
        "Tidak ada wajah yang terlihat di foto. Hadapkan wajah ke kamera dengan cahaya yang cukup.",
        "No face can be seen in the photo. Face the camera in good light.",
    ),
    "MULTIPLE_FACES": (
        "Foto menampilkan lebih dari satu wajah. Pastikan hanya wajah pemohon yang terlihat.",
        "The photo shows more than one face. Make sure only the applicant's face is in the picture.",
    ),
    "FACE_TOO_SMALL": (
        "Wajah terlalu kecil di foto. Dekatkan kamera sampai wajah memenuhi sebagian besar foto.",
        "The face is too small in the photo. Move the camera closer so the face fills most of the picture.",
    ),
    "IMAGE_BLURRY": (
        "Foto wajah buram. Pegang kamera dengan stabil, bersihkan lensa, lalu ambil ulang foto.",
        "The face in the photo is blurred. Hold the camera still, clean the lens and take the photo again.",
    ),
    # The check could not decide: never the applicant's fault, always to an officer.
    "NO_REFERENCE_PHOTO": (
        "Foto di Dukcapil tidak tersedia; petugas akan memeriksa secara manual.",
        "No civil-registry photo is available; an officer will check by hand.",
    ),
    "REFERENCE_UNUSABLE": (
        "Foto di Dukcapil tidak dapat dipakai untuk pencocokan; petugas akan memeriksa secara manual.",
        "The civil-registry photo cannot be used for matching; an officer will check by hand.",
    ),
    "NO_SELFIE": (
        "Tidak ada swafoto; petugas akan memeriksa secara manual.",
        "No selfie was taken; an officer will check by hand.",
    ),
    "SELFIE_MISSING": (
        "Swafoto tidak lagi tersimpan; petugas akan memeriksa secara manual.",
        "The selfie is no longer stored; an officer will check by hand.",
    ),
    # Outcomes an officer reviews.
    "FACE_NO_MATCH": (
        "Wajah pada swafoto tidak cocok dengan foto di Dukcapil; petugas akan memeriksa.",
        "The face in the selfie does not match the civil-registry photo; an officer will check.",
    ),
    "DUPLICATE_FACE_SUSPECTED": (
        "Wajah yang sama ditemukan pada pendaftaran dengan NIK lain; petugas akan memeriksa.",
        "The same face was found in an application under another NIK; an officer will check.",
    ),
}


def face_message(code: str, **params) -> tuple[str, str]:
    """Return (indonesian, english) for a reason code, placeholders filled from ``params``."""
    id_text, en_text = FACE_MESSAGES[code]
    return id_text.format(**params), en_text.format(**params)


# The same codes worded for officers (never shown to the applicant: they may name other cases).
OFFICER_MESSAGES: dict[str, tuple[str, str]] = {
    "DUPLICATE_FACE_SUSPECTED": (
        "Wajah mirip dengan pemohon lain: {cases}. Bandingkan kedua swafoto di panel wajah ganda sebelum memutuskan.",
        "The face resembles another applicant's: {cases}. Compare both selfies in the duplicate-face panel "
        "before deciding.",
    ),
}


def officer_message(code: str, **params) -> tuple[str, str]:
    """Return (indonesian, english) of a reason code as officers read it."""
    id_text, en_text = OFFICER_MESSAGES[code]
    return id_text.format(**params), en_text.format(**params)
