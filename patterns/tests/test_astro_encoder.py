"""patterns.encoders.astro against references that share none of its code: PyEphem (libastro's own
VSOP87/ELP/Pluto theories, MIT), Meeus's *Astronomical Algorithms* (2nd ed.) worked examples, and
published station and moon-phase times. Pure computation: no database."""

from __future__ import annotations

import itertools
import math
import warnings
from datetime import UTC, date, datetime, timedelta, timezone

import ephem
import numpy as np
import pytest
from jplephem.spk import SPK
from skyfield.api import load

from patterns.encoders import astro
from patterns.encoders.astro import AstroRangeError

PYEPHEM_BODIES = {
    "sun": ephem.Sun,
    "moon": ephem.Moon,
    "mercury": ephem.Mercury,
    "venus": ephem.Venus,
    "mars": ephem.Mars,
    "jupiter": ephem.Jupiter,
    "saturn": ephem.Saturn,
    "uranus": ephem.Uranus,
    "neptune": ephem.Neptune,
    "pluto": ephem.Pluto,
}
ARCSECOND = 1 / 3600


def wrap180(degrees):
    return (np.asarray(degrees) + 180.0) % 360.0 - 180.0


# ------------------------------------------------------------------- independent reference: Meeus


def meeus_nutation(jd_tt: float) -> tuple[float, float]:
    """Nutation in longitude and obliquity (degrees), Meeus ch. 22 short series (good to ~0.5")."""
    t = (jd_tt - 2451545.0) / 36525
    node = math.radians(125.04452 - 1934.136261 * t)
    sun = math.radians(280.4665 + 36000.7698 * t)
    moon = math.radians(218.3165 + 481267.8813 * t)
    dpsi = -17.20 * math.sin(node) - 1.32 * math.sin(2 * sun) - 0.23 * math.sin(2 * moon) + 0.21 * math.sin(2 * node)
    deps = 9.20 * math.cos(node) + 0.57 * math.cos(2 * sun) + 0.10 * math.cos(2 * moon) - 0.09 * math.cos(2 * node)
    return dpsi / 3600, deps / 3600


def true_obliquity(jd_tt: float) -> float:
    """Meeus eq. 22.2 (mean obliquity, IAU 1980) plus the nutation in obliquity, in radians."""
    t = (jd_tt - 2451545.0) / 36525
    mean = 23 + 26 / 60 + (21.448 - 46.8150 * t - 0.00059 * t**2 + 0.001813 * t**3) / 3600
    return math.radians(mean + meeus_nutation(jd_tt)[1])


def meeus_node_ch22(jd_tt):
    """The simpler mean-node formula of Meeus ch. 22 (with the nutation), degrees."""
    t = (np.asarray(jd_tt) - 2451545.0) / 36525
    return np.mod(125.04452 - 1934.136261 * t + 0.0020708 * t**2 + t**3 / 450000, 360.0)


# ----------------------------------------------------------------- independent reference: PyEphem


def pyephem_tt(moment: datetime) -> float:
    """PyEphem's TT Julian date for a UTC moment: its date plus its own delta T."""
    when = ephem.Date(moment.astimezone(UTC).replace(tzinfo=None))
    return ephem.julian_date(when) + ephem.delta_t(when) / 86400


def pyephem_longitude(body: str, jd_tt: float) -> float:
    """PyEphem's apparent geocentric ecliptic longitude, true equinox and ecliptic of date, at TT.

    ``ephem.Ecliptic(body, epoch=date)`` after ``body.compute(date, epoch=date)`` is NOT that: a
    Coordinate built from a Body uses its *astrometric* a_ra/a_dec (no aberration, no nutation,
    mean equinox), up to ~38" away from the apparent longitude (measured: 35" for the Sun on
    2000-01-01). The apparent position of date is g_ra/g_dec (light time, deflection, nutation
    and aberration, true equator and equinox of date; PyEphem leaves aberration out for the Moon,
    where it nearly cancels the light time). Converting it with PyEphem's Ecliptic class would use
    the *mean* obliquity, so it is rotated here with the true obliquity (Meeus eq. 13.1).
    PyEphem takes UT; it is given the UT whose TT (with its own delta T) is ``jd_tt``, so the two
    ephemerides are compared at the same dynamical time: their delta T models differ by up to 38 s
    in 2050 (PyEphem extrapolates 110 s, Skyfield 72 s), which alone moves the Moon by ~20".
    """
    when = ephem.Date(jd_tt - 2415020.0)  # ephem.Date counts days from 1899-12-31 12:00
    when = ephem.Date(when - ephem.delta_t(when) / 86400)
    target = PYEPHEM_BODIES[body]()
    target.compute(when, epoch=when)
    ra, dec, eps = float(target.g_ra), float(target.g_dec), true_obliquity(jd_tt)
    longitude = math.atan2(math.sin(ra) * math.cos(eps) + math.tan(dec) * math.sin(eps), math.cos(ra))
    return math.degrees(longitude) % 360


TIMESCALE = load.timescale(builtin=True)  # Skyfield's built-in delta T and leap seconds, no download


def utc_at_tt(jd_tt: float) -> datetime:
    """The civil moment of a TT Julian date as the encoder reads times: UTC, or UT (UT1) before
    1972. Only time scales are converted here (Skyfield's built-in table), no positions."""
    t = TIMESCALE.tt_jd(jd_tt)
    if t.utc_datetime() >= datetime(1972, 1, 1, tzinfo=UTC):
        return t.utc_datetime()
    *day_and_time, second = t.ut1_calendar()
    return datetime(*(int(part) for part in day_and_time), tzinfo=UTC) + timedelta(seconds=float(second))


def pyephem_aspects(jd_tt: float, orbs: dict[str, float]) -> np.ndarray:
    """(55, 5) aspect strengths from PyEphem longitudes and Meeus's node, by the documented rule."""
    longitudes = {body: pyephem_longitude(body, jd_tt) for body in PYEPHEM_BODIES}
    longitudes["node"] = float(meeus_node_ch22(jd_tt)) + meeus_nutation(jd_tt)[0]
    expected = np.zeros((55, 5))
    for p, (first, second) in enumerate(itertools.combinations(astro.BODIES, 2)):
        separation = abs(float(wrap180(longitudes[second] - longitudes[first])))
        for a, (aspect, angle) in enumerate(astro.ASPECTS.items()):
            expected[p, a] = max(0.0, 1 - abs(separation - angle) / orbs[aspect])
    return expected


@pytest.fixture(scope="module")
def whole_range() -> astro.AstroArrays:
    return astro.compute_days(astro.MIN_DATE, astro.MAX_DATE)


# ------------------------------------------------------------------------------------- interface


def test_public_constants_describe_the_layout():
    assert astro.BODIES == (
        "sun",
        "moon",
        "mercury",
        "venus",
        "mars",
        "jupiter",
        "saturn",
        "uranus",
        "neptune",
        "pluto",
        "node",
    )
    assert astro.BODY_PAIRS == tuple(itertools.combinations(astro.BODIES, 2))
    assert len(astro.BODY_PAIRS) == 55
    assert astro.ASPECTS == {"conjunction": 0, "sextile": 60, "square": 90, "trine": 120, "opposition": 180}
    assert set(astro.DEFAULT_ORBS) == set(astro.ASPECTS)
    assert astro.SIGNS[0] == "aries" and astro.SIGNS[-1] == "pisces" and len(astro.SIGNS) == 12
    assert astro.MOON_PHASES[::2] == ("new", "first_quarter", "full", "last_quarter")
    # 11 bodies x (sin, cos) + 8 retrograde flags + moon phase (sin, cos) + 55 pairs x 5 aspects
    assert astro.ASTRO_DIM == 22 + 8 + 2 + 275 == 307
    assert (astro.MIN_DATE, astro.MAX_DATE) == (date(1900, 1, 1), date(2050, 12, 31))
    assert issubclass(AstroRangeError, ValueError)


def test_the_shipped_de421_kernel_covers_the_supported_range():
    import skyfield_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its note on finals2000A.all, unused here
        path = skyfield_data.get_skyfield_data_path()
    kernel = SPK.open(f"{path}/de421.bsp")
    try:
        first = max(segment.start_jd for segment in kernel.segments)
        last = min(segment.end_jd for segment in kernel.segments)
    finally:
        kernel.close()
    min_jd = astro.MIN_DATE.toordinal() + 1721424.5  # Julian date of 00:00 on that day
    max_jd = astro.MAX_DATE.toordinal() + 1 + 1721424.5
    # A day of margin each side for light time; the kernel spans 1899-07-29 .. 2053-10-08.
    assert first <= min_jd - 1 and max_jd + 1 <= last


# -------------------------------------------------------------------------------- ephemeris


PYEPHEM_DATES = [
    datetime(1900, 1, 1, 6, tzinfo=UTC),  # not 00:00: at PyEphem's TT that is 1899-12-31 23:59:59 UT here
    datetime(1905, 6, 15, 12, tzinfo=UTC),
    datetime(1950, 1, 1, tzinfo=UTC),
    datetime(2000, 1, 1, 12, tzinfo=UTC),
    datetime(2024, 4, 8, 18, tzinfo=UTC),
    datetime(2050, 12, 31, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", PYEPHEM_DATES, ids=lambda moment: moment.date().isoformat())
def test_longitudes_agree_with_pyephem(moment):
    # Measured over 1900-2050 (450 dates): every body within 2.4" of PyEphem at equal TT, except
    # Pluto, whose libastro theory (a truncated series) drifts to 13" by 2050. So: 3" and 15".
    jd_tt = pyephem_tt(moment)
    arrays = astro.compute([utc_at_tt(jd_tt)])
    for column, body in enumerate(astro.BODIES[:-1]):
        bound = 15 * ARCSECOND if body == "pluto" else 3 * ARCSECOND
        difference = abs(float(wrap180(arrays.longitude[0, column] - pyephem_longitude(body, jd_tt))))
        assert difference < bound, f'{body} on {moment}: {difference * 3600:.1f}" from PyEphem'


@pytest.mark.parametrize("moment", PYEPHEM_DATES[1:5], ids=lambda moment: moment.date().isoformat())
def test_speeds_agree_with_a_numerical_derivative_of_pyephem(moment):
    # Central difference of PyEphem's apparent longitude over +-1 hour. The Moon's bound is wider:
    # its aberration (which PyEphem leaves out) scales its 12-15 degrees/day by up to 1e-4.
    jd_tt = pyephem_tt(moment)
    arrays = astro.compute([utc_at_tt(jd_tt)])
    step = 1 / 24
    for column, body in enumerate(astro.BODIES[:-1]):
        later, earlier = pyephem_longitude(body, jd_tt + step), pyephem_longitude(body, jd_tt - step)
        rate = float(wrap180(later - earlier)) / (2 * step)
        bound = (6 if body == "moon" else 1) * ARCSECOND
        assert abs(arrays.speed[0, column] - rate) < bound, f"{body}: {arrays.speed[0, column]} vs {rate} deg/day"


def test_march_equinox_and_june_solstice_2024_match_published_minutes():
    # USNO: March equinox 2024-03-20 03:06 UTC, June solstice 2024-06-20 20:51 UTC. The Sun's
    # apparent longitude of date crosses 0 and 90 degrees within half a minute of those.
    arrays = astro.compute(
        [
            datetime(2024, 3, 20, 3, 5, 30, tzinfo=UTC),
            datetime(2024, 3, 20, 3, 6, 30, tzinfo=UTC),
            datetime(2024, 6, 20, 20, 50, 30, tzinfo=UTC),
            datetime(2024, 6, 20, 20, 51, 30, tzinfo=UTC),
        ]
    )
    sun = astro.BODIES.index("sun")
    assert [astro.SIGNS[s] for s in arrays.sign[:, sun]] == ["pisces", "aries", "gemini", "cancer"]
    assert 359.99 < arrays.longitude[0, sun] < 360 and 0 <= arrays.longitude[1, sun] < 0.01
    assert 89.99 < arrays.longitude[2, sun] < 90 < arrays.longitude[3, sun] < 90.01


def test_mean_node_matches_meeus_example_22a():
    # Meeus Example 22.a: 1987 April 10, 0h TD (JDE 2446895.5): Omega = 11.2531 degrees,
    # nutation in longitude -3.788".
    longitude, rate = astro.mean_node(2446895.5)
    assert longitude == pytest.approx(11.2531, abs=0.00005)
    assert rate == pytest.approx(-1934.1362891 / 36525, rel=1e-6)
    # compute() adds the nutation so the node sits on the true equinox like the other bodies.
    arrays = astro.compute([utc_at_tt(2446895.5)])
    node = astro.BODIES.index("node")
    assert arrays.longitude[0, node] == pytest.approx(11.2531 - 3.788 * ARCSECOND, abs=0.0001)
    assert arrays.speed[0, node] == pytest.approx(-0.05295, abs=0.0001)
    assert arrays.retrograde[0, node]


def test_mean_node_agrees_with_the_chapter_22_formula():
    jd = np.linspace(2415020.5, 2470172.5, 2001)  # 1900 .. 2050
    longitude, rate = astro.mean_node(jd)
    assert np.abs(wrap180(longitude - meeus_node_ch22(jd))).max() < 0.0001
    numerical = wrap180(meeus_node_ch22(jd + 0.5) - meeus_node_ch22(jd - 0.5))
    assert np.abs(rate - numerical).max() < 1e-7


def test_vectorised_compute_equals_one_time_at_a_time():
    moments = [
        datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC),
        datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC),  # the day of a leap second
        datetime(2017, 1, 1, tzinfo=UTC),
        datetime(2050, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    together = astro.compute(moments)
    for row, moment in enumerate(moments):
        alone = astro.compute([moment])
        assert alone.times[0] == together.times[row] == np.datetime64(moment.replace(tzinfo=None), "s")
        np.testing.assert_allclose(alone.longitude[0], together.longitude[row], rtol=0, atol=1e-9)
        np.testing.assert_allclose(alone.speed[0], together.speed[row], rtol=0, atol=1e-9)
        np.testing.assert_allclose(alone.aspect_strength[0], together.aspect_strength[row], rtol=0, atol=1e-5)
        assert (alone.sign[0] == together.sign[row]).all()
        assert (alone.retrograde[0] == together.retrograde[row]).all()
        assert alone.moon_phase[0] == together.moon_phase[row]


def test_times_can_be_aware_datetimes_dates_or_datetime64():
    utc = astro.compute([datetime(2020, 5, 1, 10, tzinfo=UTC)])
    paris = astro.compute([datetime(2020, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))])
    numpy = astro.compute(np.array(["2020-05-01T10:00"], dtype="datetime64[m]"))
    np.testing.assert_array_equal(utc.longitude, paris.longitude)
    np.testing.assert_array_equal(utc.longitude, numpy.longitude)
    midnight = astro.compute([date(2020, 5, 1)])
    assert midnight.times[0] == np.datetime64("2020-05-01T00:00:00")
    days = astro.compute_days(date(2020, 5, 1), date(2020, 5, 3))
    assert days.times.tolist() == [datetime(2020, 5, day) for day in (1, 2, 3)]
    np.testing.assert_allclose(days.longitude[0], midnight.longitude[0], rtol=0, atol=1e-9)
    empty = astro.compute([])
    assert empty.longitude.shape == (0, 11) and empty.aspect_strength.shape == (0, 55, 5)
    assert astro.feature_vector(empty).shape == (0, astro.ASTRO_DIM)


# ------------------------------------------------------------------------------ retrograde motion


# Published Mercury stations 2020-2024 as UTC days (station retrograde, station direct). Every
# pair was checked against this module's station instants (``astro.stations``): all 32 fall on
# these UTC days, none within 50 minutes of midnight UTC. Several are a day earlier in US time
# zones, e.g. 2020-02-17 00:53 UTC is Feb 16 19:53 EST, 2021-02-21 00:51 UTC is Feb 20 19:51 EST,
# 2020-10-14 01:04 UTC is Oct 13 21:04 EDT; the list is in UTC, so no entry needed fixing.
MERCURY_2020_2024 = [
    (date(2020, 2, 17), date(2020, 3, 10)),
    (date(2020, 6, 18), date(2020, 7, 12)),
    (date(2020, 10, 14), date(2020, 11, 3)),
    (date(2021, 1, 30), date(2021, 2, 21)),
    (date(2021, 5, 29), date(2021, 6, 22)),
    (date(2021, 9, 27), date(2021, 10, 18)),
    (date(2022, 1, 14), date(2022, 2, 4)),
    (date(2022, 5, 10), date(2022, 6, 3)),
    (date(2022, 9, 10), date(2022, 10, 2)),
    (date(2022, 12, 29), date(2023, 1, 18)),
    (date(2023, 4, 21), date(2023, 5, 15)),
    (date(2023, 8, 23), date(2023, 9, 15)),
    (date(2023, 12, 13), date(2024, 1, 2)),
    (date(2024, 4, 1), date(2024, 4, 25)),
    (date(2024, 8, 5), date(2024, 8, 28)),
    (date(2024, 11, 26), date(2024, 12, 15)),
]


def test_mercury_retrograde_periods_2020_2024_match_published_dates():
    assert astro.retrograde_periods("mercury", date(2020, 1, 1), date(2024, 12, 31)) == MERCURY_2020_2024
    # A window inside a period still reports the whole period.
    assert astro.retrograde_periods("mercury", date(2020, 3, 1), date(2020, 3, 2)) == [MERCURY_2020_2024[0]]
    instants = astro.stations("mercury", date(2020, 1, 1), date(2024, 12, 31))
    assert [kind for _, kind in instants] == ["retrograde", "direct"] * 16
    assert [instant.date() for instant, _ in instants] == [day for pair in MERCURY_2020_2024 for day in pair]
    assert all(
        timedelta(minutes=50)
        < instant - instant.replace(hour=0, minute=0, second=0, microsecond=0)
        < timedelta(hours=23, minutes=10)
        for instant, _ in instants
    )


def pyephem_station(body: str, near: datetime) -> datetime:
    """The instant PyEphem's apparent longitude rate changes sign within half a day of ``near``."""

    def rate(jd_tt: float) -> float:
        step = 0.05
        return float(wrap180(pyephem_longitude(body, jd_tt + step) - pyephem_longitude(body, jd_tt - step)))

    low, high = pyephem_tt(near) - 0.5, pyephem_tt(near) + 0.5
    low_sign = rate(low) < 0
    assert low_sign != (rate(high) < 0), f"no {body} station within half a day of {near}"
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if (rate(middle) < 0) == low_sign else (low, middle)
    return utc_at_tt((low + high) / 2)


@pytest.mark.parametrize("body", astro.PLANETS_THAT_RETROGRADE)
def test_station_instants_agree_with_pyephem(body):
    # Measured 2020-2025: every station within 9 minutes of PyEphem's (Uranus and Neptune, whose
    # stations are the slowest, differ most).
    found = astro.stations(body, date(2021, 1, 1), date(2022, 12, 31))
    assert found
    for instant, _ in found:
        assert abs(instant - pyephem_station(body, instant)) < timedelta(minutes=15), (body, instant)


def test_retrograde_flags_agree_with_retrograde_periods(whole_range):
    days = whole_range.times.astype("datetime64[D]")
    for body in astro.PLANETS_THAT_RETROGRADE:
        expected = np.zeros(len(days), dtype=bool)
        for first, last in astro.retrograde_periods(body, astro.MIN_DATE, astro.MAX_DATE):
            # The station retrograde happens during its day, so 00:00 of the next day is the first
            # retrograde midnight; 00:00 of the station-direct day is the last.
            expected |= (days > np.datetime64(first)) & (days <= np.datetime64(last))
        column = astro.BODIES.index(body)
        mismatched = days[expected != whole_range.retrograde[:, column]]
        assert not mismatched.size, f"{body}: flags disagree on {mismatched[:5]}"
        assert expected.any() and not expected.all()
    assert not whole_range.retrograde[:, :2].any()  # the Sun and the Moon
    assert whole_range.retrograde[:, astro.BODIES.index("node")].all()


# ---------------------------------------------------------------------------------- moon phases


# USNO phases of the Moon (UT, to the minute).
PUBLISHED_PHASES = [
    (datetime(2000, 1, 6, 18, 14, tzinfo=UTC), "new"),
    (datetime(2000, 1, 21, 4, 40, tzinfo=UTC), "full"),  # the total lunar eclipse of 2000
    (datetime(2017, 8, 21, 18, 30, tzinfo=UTC), "new"),  # the total solar eclipse of 2017
    (datetime(2019, 7, 2, 19, 16, tzinfo=UTC), "new"),
    (datetime(2024, 1, 11, 11, 57, tzinfo=UTC), "new"),
    (datetime(2024, 1, 25, 17, 54, tzinfo=UTC), "full"),
    (datetime(2024, 3, 25, 7, 0, tzinfo=UTC), "full"),
    (datetime(2024, 4, 8, 18, 21, tzinfo=UTC), "new"),  # the total solar eclipse of 2024
]


@pytest.mark.parametrize(("published", "phase"), PUBLISHED_PHASES, ids=lambda value: str(value)[:16])
def test_new_and_full_moons_match_published_times(published, phase):
    events = astro.moon_phase_events(published - timedelta(days=1), published + timedelta(days=1))
    assert [name for _, name in events] == [phase]
    instant = events[0][0]
    assert instant.tzinfo is not None
    assert abs(instant - published) <= timedelta(seconds=60)


def test_moon_phase_columns_at_the_exact_phases():
    events = astro.moon_phase_events(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    assert [name for _, name in events[:4]] == ["last_quarter", "new", "first_quarter", "full"]
    arrays = astro.compute([instant for instant, _ in events])
    angles = {"new": 0, "first_quarter": 90, "full": 180, "last_quarter": 270}
    for row, (_, name) in enumerate(events):
        # compute() keeps whole seconds: the angle moves ~0.00014 degrees a second.
        assert abs(float(wrap180(arrays.moon_phase_angle[row] - angles[name]))) < 0.001
        assert astro.MOON_PHASES[arrays.moon_phase[row]] == name


def test_moon_phase_bins_are_centred_on_the_eight_phases(whole_range):
    # Each named phase is the 45-degree bin centred on 0, 45, ..., 315 degrees.
    angles = whole_range.moon_phase_angle
    distance = np.abs(wrap180(angles[:, None] - np.arange(8) * 45.0))
    np.testing.assert_array_equal(whole_range.moon_phase, distance.argmin(axis=1))
    assert set(whole_range.moon_phase.tolist()) == set(range(8))
    expected_angle = np.mod(whole_range.longitude[:, 1] - whole_range.longitude[:, 0], 360)
    np.testing.assert_allclose(whole_range.moon_phase_angle, expected_angle, atol=1e-9)


# -------------------------------------------------------------------------------------- aspects


def test_the_great_conjunction_of_2020():
    # Jupiter and Saturn met in apparent ecliptic longitude on 2020-12-21. The exact instant comes
    # from PyEphem (bisection on its longitudes), then the aspect is checked a day either side.
    def gap(jd_tt: float) -> float:
        return float(wrap180(pyephem_longitude("saturn", jd_tt) - pyephem_longitude("jupiter", jd_tt)))

    low, high = pyephem_tt(datetime(2020, 12, 20, tzinfo=UTC)), pyephem_tt(datetime(2020, 12, 23, tzinfo=UTC))
    assert gap(low) > 0 > gap(high)  # Jupiter, the faster, overtakes Saturn
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if gap(middle) > 0 else (low, middle)
    exact_tt = (low + high) / 2
    exact = utc_at_tt(exact_tt)
    assert exact.date() == date(2020, 12, 21)

    arrays = astro.compute([utc_at_tt(exact_tt - 1), exact, utc_at_tt(exact_tt + 1)])
    pair = astro.BODY_PAIRS.index(("jupiter", "saturn"))
    conjunction = list(astro.ASPECTS).index("conjunction")
    strength = arrays.aspect_strength[:, pair, conjunction]
    applying = arrays.aspect_applying[:, pair, conjunction]
    orb = astro.DEFAULT_ORBS["conjunction"]
    for row, offset in enumerate((-1, 0, 1)):
        separation = abs(gap(exact_tt + offset))
        assert strength[row] == pytest.approx(1 - separation / orb, abs=0.0005)
    assert strength[1] > 0.999
    assert applying[0] and not applying[2] and strength[2] > 0  # applying, then separating
    assert "jupiter-conjunction-saturn" in astro.aspects_present(arrays, 1)
    assert astro.aspect_name("saturn", "conjunction", "jupiter") == "jupiter-conjunction-saturn"


@pytest.mark.parametrize(
    "moment",
    [datetime(1912, 4, 15, 5, tzinfo=UTC), datetime(1987, 4, 10, tzinfo=UTC), datetime(2021, 6, 14, tzinfo=UTC)],
    ids=lambda moment: moment.date().isoformat(),
)
def test_aspect_strengths_and_applying_from_independent_longitudes(moment):
    jd_tt = pyephem_tt(moment)
    arrays = astro.compute([utc_at_tt(jd_tt)])
    expected = pyephem_aspects(jd_tt, astro.DEFAULT_ORBS)
    # Pluto's 8" and the node's 0.5" disagreement are at most 0.0005 of the narrowest orb (5 degrees).
    np.testing.assert_allclose(arrays.aspect_strength[0], expected, atol=0.001)
    # Applying: the distance to exactness is smaller an hour later than an hour earlier.
    step = 1 / 24
    before, after = pyephem_aspects(jd_tt - step, astro.DEFAULT_ORBS), pyephem_aspects(jd_tt + step, astro.DEFAULT_ORBS)
    clear = (np.minimum(before, after) > 0.01) & (np.abs(after - before) > 1e-5) & (expected < 0.999)
    assert clear.sum() >= 5
    np.testing.assert_array_equal(arrays.aspect_applying[0][clear], (after > before)[clear])
    assert not arrays.aspect_applying[0][expected == 0].any()
    names = astro.aspects_present(arrays, 0)
    within = np.argwhere(arrays.aspect_strength[0] > 0)
    assert names == [f"{astro.BODY_PAIRS[p][0]}-{list(astro.ASPECTS)[a]}-{astro.BODY_PAIRS[p][1]}" for p, a in within]


def test_orbs_can_be_overridden():
    moment = [datetime(2021, 6, 14, tzinfo=UTC)]
    default, wide = astro.compute(moment), astro.compute(moment, orbs={"sextile": 10})
    sextile = list(astro.ASPECTS).index("sextile")
    first = np.array([astro.BODIES.index(body) for body, _ in astro.BODY_PAIRS])
    second = np.array([astro.BODIES.index(body) for _, body in astro.BODY_PAIRS])
    separation = np.abs(wrap180(default.longitude[0, second] - default.longitude[0, first]))
    expected = np.maximum(0, 1 - np.abs(separation - 60) / 10)
    np.testing.assert_allclose(wide.aspect_strength[0, :, sextile], expected, atol=1e-5)
    others = [a for a in range(5) if a != sextile]
    np.testing.assert_array_equal(wide.aspect_strength[0][:, others], default.aspect_strength[0][:, others])
    assert (wide.aspect_strength[0, :, sextile] > 0).sum() > (default.aspect_strength[0, :, sextile] > 0).sum()


def test_aspect_name_normalises_order_and_rejects_unknown_names():
    assert astro.aspect_name("saturn", "square", "mars") == "mars-square-saturn"
    assert astro.aspect_name("node", "trine", "sun") == "sun-trine-node"
    with pytest.raises(ValueError, match=r"unknown body 'chiron'.*sun, moon, mercury.*node"):
        astro.aspect_name("chiron", "square", "mars")
    with pytest.raises(ValueError, match=r"unknown aspect 'quincunx'.*conjunction, sextile, square, trine, opposition"):
        astro.aspect_name("mars", "quincunx", "saturn")
    with pytest.raises(ValueError, match="two different bodies"):
        astro.aspect_name("mars", "square", "mars")


# ----------------------------------------------------------------------------- feature vectors


def test_feature_vector_has_the_documented_layout_and_unit_rows(whole_range):
    vectors = astro.feature_vector(whole_range)
    assert vectors.shape == (len(whole_range.times), astro.ASTRO_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors.astype(np.float64), axis=1), 1.0, atol=1e-6)
    rows = [0, 12345, len(whole_range.times) - 1]
    for row in rows:
        lon = np.radians(whole_range.longitude[row])
        planets = [astro.BODIES.index(body) for body in astro.PLANETS_THAT_RETROGRADE]
        phase = math.radians(whole_range.moon_phase_angle[row])
        expected = np.concatenate(
            [
                np.column_stack([np.sin(lon), np.cos(lon)]).ravel() * 1.0,  # sin, cos per body
                np.where(whole_range.retrograde[row, planets], 1.0, -1.0) * 0.5,
                np.array([math.sin(phase), math.cos(phase)]) * 1.5,
                whole_range.aspect_strength[row].astype(np.float64).ravel() * 1.0,  # pair-major
            ]
        )
        np.testing.assert_allclose(vectors[row], expected / np.linalg.norm(expected), atol=1e-6)


# ----------------------------------------------------------------------------------- bad input


def test_times_outside_the_supported_range_are_refused_with_the_range():
    range_text = r"1900-01-01 00:00 \.\. 2050-12-31 23:59:59 UTC"
    astro.compute([datetime(1900, 1, 1, tzinfo=UTC), datetime(2050, 12, 31, 23, 59, 59, tzinfo=UTC)])
    with pytest.raises(AstroRangeError, match=range_text):
        astro.compute([datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC)])
    with pytest.raises(AstroRangeError, match=range_text):
        astro.compute(np.array(["2051-01-01"], dtype="datetime64[D]"))
    with pytest.raises(AstroRangeError, match=range_text):
        astro.compute_days(date(2050, 12, 1), date(2051, 1, 1))
    with pytest.raises(AstroRangeError, match=range_text):
        astro.retrograde_periods("mars", date(1899, 6, 1), date(1900, 6, 1))
    with pytest.raises(AstroRangeError, match=range_text):
        astro.moon_phase_events(datetime(2050, 12, 1, tzinfo=UTC), datetime(2051, 1, 2, tzinfo=UTC))


def test_bad_arguments_are_refused_with_a_message_naming_the_valid_values():
    with pytest.raises(ValueError, match="timezone-aware"):
        astro.compute([datetime(2020, 1, 1)])
    with pytest.raises(ValueError, match=r"unknown body 'sun'.*mercury, venus, mars, jupiter, saturn, uranus"):
        astro.retrograde_periods("sun", date(2020, 1, 1), date(2020, 12, 31))
    with pytest.raises(ValueError, match="unknown body 'node'"):
        astro.stations("node", date(2020, 1, 1), date(2020, 12, 31))
    with pytest.raises(ValueError, match=r"unknown aspect 'quincunx'.*conjunction, sextile"):
        astro.compute_days(date(2020, 1, 1), date(2020, 1, 2), orbs={"quincunx": 3})
    with pytest.raises(ValueError, match=r"orb for square must be a number of degrees in \(0, 30\]"):
        astro.compute_days(date(2020, 1, 1), date(2020, 1, 2), orbs={"square": 0})
    with pytest.raises(ValueError, match="before start"):
        astro.compute_days(date(2020, 1, 2), date(2020, 1, 1))
    with pytest.raises(ValueError, match="not after start"):
        astro.moon_phase_events(datetime(2020, 1, 2, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))
