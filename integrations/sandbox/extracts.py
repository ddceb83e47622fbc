"""Layout of the registry extracts (workbooks, sheets, columns, codes) and Banyuwangi's geography.

The generator writes and the importer reads exactly this layout, in the naming style of Indonesian
registry extracts (upper-case Indonesian column names and code labels).
"""

from __future__ import annotations

from dataclasses import dataclass

REGENCY_CODE = "3510"  # Banyuwangi, East Java


@dataclass(frozen=True)
class District:
    """A kecamatan of Banyuwangi with its relative population and some of its villages."""

    code: str
    name: str
    weight: int  # rough population in thousands, to spread households realistically
    villages: tuple[str, ...]


# Codes follow the order agreed for the sandbox (not the ministry's numbering).
# Village lists are representative samples, not the complete official list.
DISTRICTS = tuple(
    District(f"{i:02d}", name, weight, tuple(villages.split(", ")))
    for i, (name, weight, villages) in enumerate(
        [
            ("PESANGGARAN", 50, "PESANGGARAN, SUMBERAGUNG, SUMBERMULYO, SARONGAN, KANDANGAN"),
            ("SILIRAGUNG", 46, "SILIRAGUNG, BULUREJO, KESILIR, BARUREJO, SEPANJANG KULON"),
            ("BANGOREJO", 62, "BANGOREJO, SAMBIMULYO, SAMBIREJO, KEBONDALEM, SUKOREJO, TEMUREJO"),
            ("PURWOHARJO", 67, "PURWOHARJO, GRAJAGAN, SUMBERASRI, KARETAN, BULUAGUNG, GLAGAHAGUNG, KRADENAN"),
            ("TEGALDLIMO", 63, "TEGALDLIMO, KENDALREJO, KEDUNGASRI, KEDUNGWUNGU, PURWOAGUNG, WRINGINPITU"),
            (
                "MUNCAR",
                132,
                "KEDUNGREJO, TEMBOKREJO, BLAMBANGAN, KEDUNGRINGIN, SUMBERBERAS, WRINGINPUTIH, "
                "TAPANREJO, KUMENDUNG, SUMBERSEWU, TAMBAKREJO",
            ),
            ("CLURING", 74, "CLURING, BENCULUK, KALIPLOSO, PLAMPANGREJO, SARIMULYO, SEMBULUNG, TAMPO"),
            ("GAMBIRAN", 61, "GAMBIRAN, YOSOMULYO, JAJAG, WRINGINAGUNG, WRINGINREJO, PURWODADI"),
            ("TEGALSARI", 48, "TEGALSARI, KARANGDORO, KARANGMULYO, TAMANSARI, TEGALREJO, DASRI"),
            ("GLENMORE", 72, "GLENMORE, KARANGHARJO, MARGOMULYO, SEPANJANG, SUMBERGONDO, TEGALHARJO"),
            ("KALIBARU", 64, "KALIBARU WETAN, KALIBARU KULON, KALIBARU MANIS, BANYUANYAR, KAJARHARJO, KEBONREJO"),
            ("GENTENG", 87, "GENTENG KULON, GENTENG WETAN, KEMBIRITAN, SETAIL, KALIGONDO"),
            ("SRONO", 91, "SRONO, SUKONATAR, KEBALENAN, SUMBERSARI, WONOSOBO, REJOAGUNG, KENITEN"),
            ("ROGOJAMPI", 96, "ROGOJAMPI, GITIK, KEDALEMAN, KARANGBENDO, LATEKAN, MANGIR, GLADAG"),
            ("BLIMBINGSARI", 49, "BLIMBINGSARI, BADEAN, SUMBERREJO, KAOTAN, PATOMAN, BOMO, GINTANGAN"),
            ("KABAT", 70, "KABAT, BUNDER, DADAPAN, GOMBOLIRANG, PAKISTAJI, PONDOKNONGKO, MACAN PUTIH"),
            ("SINGOJURUH", 47, "SINGOJURUH, ALASMALANG, GUMIRIH, KEMIRI, GAMBOR, SINGOLATREN, CANTUK"),
            ("SEMPU", 74, "SEMPU, KARANGSARI, JAMBEWANGI, TEGALARUM, TEMUASRI, GENDOH"),
            ("SONGGON", 54, "SONGGON, SRAGI, BAYU, BALAK, SUMBERBULU, PARANGHARJO, BANGUNSARI"),
            ("GLAGAH", 36, "GLAGAH, OLEHSARI, KEMIREN, PASPAN, REJOSARI, KENJO, BAKUNGAN, TAMANSURUH"),
            ("LICIN", 29, "LICIN, BANJAR, SEGOBANG, GUMUK, JELUN, PAKEL, KLUNCING"),
            (
                "BANYUWANGI",
                117,
                "KEPATIHAN, PANDEREJO, SINGONEGARAN, TEMENGGUNGAN, PENGANJURAN, TUKANGKAYU, "
                "KERTOSARI, TAMAN BARU, SOBO, PAKIS, LATENG, SINGOTRUNAN, KARANGREJO, "
                "KAMPUNG MANDAR, KAMPUNG MELAYU, PENGANTIGAN",
            ),
            ("GIRI", 31, "GIRI, BOYOLANGU, GROGOL, JAMBESARI, MOJOPANGGUNG, PENATABAN"),
            ("KALIPURO", 83, "KALIPURO, KETAPANG, BULUSARI, KLATAK, TELEMUNG, PESUCEN, GOMBENGSARI, KELIR"),
            ("WONGSOREJO", 78, "WONGSOREJO, BANGSRING, BENGKAK, ALASBULUH, SUMBERANYAR, SIDOWANGI, BAJULMATI"),
        ],
        start=1,
    )
)
DISTRICT_BY_CODE = {d.code: d for d in DISTRICTS}


@dataclass(frozen=True)
class SheetLayout:
    """One sheet of one extract workbook: where it lives and its header row."""

    workbook: str
    sheet: str
    columns: tuple[str, ...]


PEOPLE = SheetLayout(
    "dukcapil.xlsx",
    "PENDUDUK",
    (
        "NIK",
        "NO_KK",
        "NAMA_LENGKAP",
        "JENIS_KELAMIN",
        "TANGGAL_LAHIR",
        "HUBUNGAN_KELUARGA",
        "KODE_KECAMATAN",
        "NAMA_KECAMATAN",
        "DESA",
        "ALAMAT",
        "STATUS_HIDUP",
        "TANGGAL_MENINGGAL",
        "PENYANDANG_DISABILITAS",
        "STATUS_HAMIL",
        "JENJANG_SEKOLAH",
        "FOTO",
    ),
)
HOUSEHOLDS = SheetLayout(
    "dukcapil.xlsx",
    "KELUARGA",
    (
        "NO_KK",
        "KODE_KECAMATAN",
        "DESA",
        "NIK_KEPALA_KELUARGA",
    ),
)
DTSEN = SheetLayout("dtsen.xlsx", "DTSEN", ("NO_KK", "DESIL", "TANGGAL_PEMUTAKHIRAN"))
BPJS_HEALTH = SheetLayout("bpjs_kesehatan.xlsx", "PESERTA", ("NIK", "SEGMEN_PESERTA", "STATUS_KEPESERTAAN"))
BPJS_EMPLOYMENT = SheetLayout("bpjs_ketenagakerjaan.xlsx", "PESERTA", ("NIK", "UPAH_BULANAN", "NAMA_PEMBERI_KERJA"))
ASSETS = SheetLayout(
    "aset.xlsx",
    "ASET_KELUARGA",
    (
        "NO_KK",
        "JUMLAH_KENDARAAN_RODA_EMPAT",
        "DAYA_LISTRIK_VA",
        "SUBSIDI_LISTRIK",
    ),
)
COMPANY_ROLES = SheetLayout("aset.xlsx", "PENGURUS_BADAN_USAHA", ("NIK", "JABATAN", "NAMA_BADAN_USAHA"))
CIVIL_SERVICE = SheetLayout("kepegawaian.xlsx", "PEGAWAI", ("NIK", "KATEGORI"))

# Order matters: the importer reads people before the sheets that refer to them.
ALL_SHEETS = (PEOPLE, HOUSEHOLDS, DTSEN, BPJS_HEALTH, BPJS_EMPLOYMENT, ASSETS, COMPANY_ROLES, CIVIL_SERVICE)

# Registry labels <-> our codes.
SEX_LABELS = {"M": "LAKI-LAKI", "F": "PEREMPUAN"}
RELATION_LABELS = {
    "KEPALA": "KEPALA KELUARGA",
    "SUAMI": "SUAMI",
    "ISTRI": "ISTRI",
    "ANAK": "ANAK",
    "MENANTU": "MENANTU",
    "CUCU": "CUCU",
    "ORANG_TUA": "ORANG TUA",
    "MERTUA": "MERTUA",
    "FAMILI_LAIN": "FAMILI LAIN",
    "LAINNYA": "LAINNYA",
}
ALIVE_LABELS = {True: "HIDUP", False: "MENINGGAL"}
YES_NO = {True: "YA", False: "TIDAK"}
ACTIVE_LABELS = {True: "AKTIF", False: "NONAKTIF"}
ROLE_LABELS = {"OWNER": "PEMILIK", "DIRECTOR": "DIREKTUR"}


def reverse(labels: dict) -> dict:
    """Return the label -> code mapping of a code -> label mapping."""
    return {label: code for code, label in labels.items()}
