"""bench/scale.py: worker and PostgreSQL CPU per application in each fifth of a run's decisions."""

from bench.scale import cpu_by_part


def _sample(decided, workers, postgres):
    return (decided, {"workers": workers, "postgres": postgres, "scheduler": 0.0})


def test_each_fifth_is_charged_the_cpu_spent_between_its_polls():
    # 1,000 decisions; the workers spend 20 ms each for the first 600, then 40 ms each.
    series = [_sample(0, 0.0, 0.0)]
    cpu = pg = 0.0
    for decided in range(50, 1001, 50):
        cpu += 50 * (0.020 if decided <= 600 else 0.040)
        pg += 50 * 0.005
        series.append(_sample(decided, cpu, pg))
    parts = cpu_by_part(series, 1000)
    assert [(a, b) for a, b, _, _ in parts] == [(0, 200), (200, 400), (400, 600), (600, 800), (800, 1000)]
    assert [round(w) for _, _, w, _ in parts] == [20, 20, 20, 40, 40]
    assert [round(p) for _, _, _, p in parts] == [5, 5, 5, 5, 5]


def test_a_poll_past_a_boundary_closes_the_part_and_a_run_cut_short_keeps_what_it_has():
    series = [_sample(0, 0.0, 0.0), _sample(300, 3.0, 0.3), _sample(450, 6.0, 0.6)]
    parts = cpu_by_part(series, 1000)
    # The first poll past 200 decisions (300) ends the first part; the run stopped at 450 (timed out).
    assert parts[0] == (0, 300, 10.0, 1.0)
    assert parts[1][:2] == (300, 450)
    assert round(parts[1][2]) == 20
    assert len(parts) == 2  # nothing decided after 450: no empty parts
    assert cpu_by_part([], 1000) == []
