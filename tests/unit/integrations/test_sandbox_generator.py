import json
from collections import Counter
from statistics import mean

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from integrations.base import validate_nik
from integrations.sandbox import extracts as x
from integrations.sandbox import tables as t
from integrations.sandbox.generator import PERSONA_KINDS, generate_population, load_personas


def read_rows(folder, layout):
    wb = load_workbook(folder / layout.workbook, read_only=True)
    try:
        return list(wb[layout.sheet].iter_rows(values_only=True))
    finally:
        wb.close()


def test_same_seed_gives_the_same_rows_and_another_seed_differs(tmp_path):
    first = generate_population(1000, 3, tmp_path / "a")
    again = generate_population(1000, 3, tmp_path / "b")
    other = generate_population(1000, 4, tmp_path / "c")
    for layout in x.ALL_SHEETS:
        assert read_rows(first.out_dir, layout) == read_rows(again.out_dir, layout), layout.sheet
    assert first.personas == again.personas
    assert read_rows(first.out_dir, x.PEOPLE) != read_rows(other.out_dir, x.PEOPLE)


@pytest.fixture(scope="module")
def people_rows(population):
    return read_rows(population.out_dir, x.PEOPLE)


def test_headers_use_registry_column_names(people_rows):
    header = people_rows[0]
    assert header[:4] == ("NIK", "NO_KK", "NAMA_LENGKAP", "JENIS_KELAMIN")
    assert "STATUS_HIDUP" in header and "TANGGAL_MENINGGAL" in header


def test_every_nik_is_valid_unique_and_matches_its_row(population, people_rows):
    rows = people_rows[1:]
    assert len(rows) == population.people == 5000
    niks = [r[0] for r in rows]
    assert len(set(niks)) == len(niks)
    for nik, kk, _name, sex, born, *_rest in rows:
        assert validate_nik(nik) == nik
        assert nik.startswith("3510") and kk.startswith(nik[:6]) and len(kk) == 16
        assert (int(nik[6:8]) > 40) == (sex == "PEREMPUAN")
        assert int(nik[6:8]) % 40 == born.day and int(nik[8:10]) == born.month


def test_import_round_trip_counts(population, loaded_engine):
    report = loaded_engine.import_report
    assert report.errors == []
    for layout in x.ALL_SHEETS:
        table = {
            x.PEOPLE: t.people,
            x.HOUSEHOLDS: t.households,
            x.DTSEN: t.dtsen,
            x.BPJS_HEALTH: t.bpjs_health,
            x.BPJS_EMPLOYMENT: t.bpjs_employment,
            x.ASSETS: t.assets,
            x.COMPANY_ROLES: t.company_roles,
            x.CIVIL_SERVICE: t.civil_service,
        }[layout]
        assert report.counts[table.name] == population.rows[f"{layout.workbook}/{layout.sheet}"]
    assert report.counts["sandbox_people"] == 5000
    assert report.counts["sandbox_households"] == population.households


def test_proportions_are_plausible(session):
    people = session.execute(select(t.people)).all()
    households = session.execute(select(t.households)).all()
    deciles = dict(session.execute(select(t.dtsen.c.kk_number, t.dtsen.c.decile)).all())
    n = len(people)
    assert 2.1 <= n / len(households) <= 2.8  # 1.63M people on 680k cards
    unranked = sum(1 for h in households if h.kk_number not in deciles) / len(households)
    assert 0.04 <= unranked <= 0.13
    per_decile = Counter(deciles.values())
    assert set(per_decile) == set(range(1, 11))
    assert all(0.05 <= c / len(deciles) <= 0.15 for c in per_decile.values())
    assert 0.004 <= sum(not p.alive for p in people) / n <= 0.025
    assert all(p.death_date is not None for p in people if not p.alive)
    assert 0.01 <= sum(p.disability for p in people) / n <= 0.04
    assert 0 < sum(p.pregnant for p in people) / n <= 0.03
    civil = session.scalar(select(func.count()).select_from(t.civil_service))
    assert 0.007 <= civil / n <= 0.025
    assert {p.district_code for p in people} == {d.code for d in x.DISTRICTS}
    assert {p.relation for p in people} >= {"KEPALA", "ISTRI", "ANAK"}
    assert {p.school_level for p in people} == {None, "SD", "SMP", "SMA"}


def _decile_of_person(session):
    return dict(
        session.execute(
            select(t.people.c.nik, t.dtsen.c.decile).join(t.dtsen, t.dtsen.c.kk_number == t.people.c.kk_number)
        ).all()
    )


def test_poorer_families_get_pbi_and_lower_wages(session):
    decile = _decile_of_person(session)
    segments = dict(session.execute(select(t.bpjs_health.c.nik, t.bpjs_health.c.segment)).all())
    poor = [nik for nik, d in decile.items() if d <= 4]
    rich = [nik for nik, d in decile.items() if d >= 8]
    assert sum(segments.get(nik) == "PBI" for nik in poor) / len(poor) > 0.7
    assert sum(segments.get(nik) == "PBI" for nik in rich) / len(rich) < 0.05
    wages = dict(session.execute(select(t.bpjs_employment.c.nik, t.bpjs_employment.c.monthly_wage)).all())
    poor_wages = [w for nik, w in wages.items() if decile.get(nik, 0) in (1, 2, 3)]
    rich_wages = [w for nik, w in wages.items() if decile.get(nik, 0) >= 8]
    assert mean(rich_wages) > 2 * mean(poor_wages)
    assert any(w > 2_810_000 for w in wages.values())


def test_assets_concentrate_in_richer_deciles(session):
    rows = session.execute(
        select(t.dtsen.c.decile, t.assets).join(t.assets, t.assets.c.kk_number == t.dtsen.c.kk_number)
    ).all()
    poor = [r for r in rows if r.decile <= 3]
    rich = [r for r in rows if r.decile >= 9]
    assert mean(r.four_wheel_vehicles > 0 for r in rich) > 3 * mean(r.four_wheel_vehicles > 0 for r in poor)
    assert all(r.electricity_subsidised for r in poor)
    assert mean(not r.electricity_subsidised for r in rich) > 0.9


def test_personas_cover_every_kind_and_are_distinct(population, session):
    personas = population.personas
    assert set(personas) == set(PERSONA_KINDS)
    assert len(set(personas.values())) == len(personas)
    assert load_personas(population.out_dir)["personas"] == personas
    photo_head = session.execute(select(t.people).where(t.people.c.nik == personas["eligible_head_with_photo"])).one()
    assert photo_head.relation == "KEPALA" and photo_head.alive and photo_head.photo_ref
    assert sorted(population.photo_holders.values()) == sorted(
        ["obama.jpg", "biden.jpg", "alex_lacamoire1.jpg", "kit_harington1.jpeg", "rose_leslie1.jpg"]
    )
    with_photo = session.scalar(select(func.count()).where(t.people.c.photo_ref.is_not(None)))
    assert with_photo == 5


def test_photo_people_accepts_plain_file_names(tmp_path):
    report = generate_population(1000, 5, tmp_path, photo_people=["obama2.jpg"])
    assert list(report.photo_holders.values()) == ["obama2.jpg"]
    saved = json.loads((tmp_path / "personas.json").read_text())
    assert saved["photo_holders"] == report.photo_holders


@pytest.mark.parametrize("n", [0, 1_000_001])
def test_population_size_is_bounded(tmp_path, n):
    with pytest.raises(ValueError):
        generate_population(n, 1, tmp_path)
