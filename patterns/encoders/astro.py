"""The astrological state of the sky as numpy arrays, and a fixed-length vector per instant.

Pure numpy + Skyfield (no Django, no database). Positions come from JPL's DE421 ephemeris as
shipped by the ``skyfield-data`` package and Skyfield's built-in timescale: nothing is ever
downloaded.

Conventions
-----------
- Bodies (``BODIES``): Sun, Moon, Mercury .. Pluto, and the Moon's *mean* ascending node. Jupiter ..
  Pluto are their system barycenters (DE421 has no planet-centre segments for them; the offset is
  at most ~0.1").
- Longitudes are geocentric and apparent (light time and annual aberration), ecliptic and
  tropical: measured from the true equinox along the true ecliptic of date
  (Skyfield's ``ecliptic_frame``; nutation IAU 2000B, within 1 mas of 2000A). The mean node is
  Meeus's polynomial (``mean_node``; *Astronomical Algorithms*, 2nd ed., eq. 47.7), which refers
  to the mean equinox of date, plus the nutation in longitude so that it sits in the same frame
  as the other columns (as Swiss Ephemeris's mean node does). The gravitational deflection of
  light by the Sun is left out: it moves a planet by 0.004" at 90 degrees from the Sun, 0.05" at
  10 and 1.75" only at the solar limb, and would cost a quarter of the compute time.
- Speeds are the time derivative of exactly those longitudes, in degrees per day, from one
  apparent position per body (Skyfield's position and velocity, no second evaluation) plus the
  small terms Skyfield's velocity leaves out but a station time feels: the rotation of the
  ecliptic-of-date frame (precession, ~0.14"/day, and nutation), the rate of change of the
  light time, and the change of aberration with the Earth's acceleration toward the Sun. Without
  them a station of Pluto would be off by up to 9 hours; with them, stations agree with a
  numerical derivative of the apparent longitude within ~5 minutes (and PyEphem's within ~9).
- ``retrograde``: speed < 0. The Sun and Moon are never retrograde; the mean node always is.
- Times are UTC. ``compute`` accepts timezone-aware datetimes (naive ones are refused),
  ``datetime.date`` (00:00 UTC) or ``numpy.datetime64`` (read as UTC); they are kept to the second.
  Before 1972, when UTC got leap seconds, a civil time is read as UT (UT1, Greenwich time as
  recorded then), and instants returned for those years are UT too. (Skyfield's own ``utc()``
  extends the 1972 offset backwards, which would put 1900 times 44 s from UT.)
- Supported range: ``MIN_DATE`` 00:00 .. ``MAX_DATE`` 23:59:59 UTC, i.e. 1900-01-01 .. 2050-12-31,
  JPL's nominal DE421 range. The shipped kernel itself spans 1899-07-29 .. 2053-10-08 TDB; the
  margin leaves room for light time and for the station searches of ``retrograde_periods``.
- Aspects (``ASPECTS``) between the two longitudes of each unordered pair (``BODY_PAIRS``, 55 in
  ``BODIES`` order). With separation s in [0, 180] and aspect angle A with orb o:
  strength = 1 - |s - A| / o inside the orb, exactly 0 outside it. ``DEFAULT_ORBS`` in degrees:
  conjunction 8, opposition 8, square 7, trine 7, sextile 5 (the customary wider orbs for the
  stronger aspects; ``compute(..., orbs=...)`` overrides any of them, each in (0, 30]).
  *Applying* means |s - A| is shrinking at that instant (from the speeds); an aspect outside its
  orb is neither applying nor separating (``aspect_applying`` is False there).
- Moon phase angle = Moon longitude - Sun longitude in [0, 360): 0 new, 90 first quarter, 180
  full, 270 last quarter. ``moon_phase`` names the 45-degree bin *centred* on each of the eight
  phases: "new" is [337.5, 22.5), "waxing_crescent" [22.5, 67.5), ..., "waning_crescent"
  [292.5, 337.5).

Feature vector (``feature_vector``; ``ASTRO_DIM`` = 307 columns, float32)
------------------------------------------------------------------------
Fixed layout (``FEATURE_LAYOUT`` holds the slices), each block multiplied by its weight
(``FEATURE_WEIGHTS``), then every row scaled to unit L2 norm, so the dot product of two rows is a
weighted cosine similarity:

====================  =========  =========================================================  ======
block                 columns    content                                                    weight
====================  =========  =========================================================  ======
``longitude``         0 .. 21    sin, cos of each body's longitude, body k at 2k, 2k+1       1.0
``retrograde``        22 .. 29   +1 retrograde / -1 direct for ``PLANETS_THAT_RETROGRADE``   0.5
``moon_phase``        30 .. 31   sin, cos of the moon phase angle                            1.5
``aspects``           32 .. 306  strength of pair p (``BODY_PAIRS`` order) and aspect a      1.0
                                 (``ASPECTS`` order) at 32 + 5p + a
====================  =========  =========================================================  ======

Before normalisation the first three blocks have a constant squared norm (11, 2, 2.25) and the
aspect block averages ~5.4 with the default orbs (sum of squared strengths, measured over
1900-2050), so a typical row is ~53 % positions, ~10 % retrograde state, ~11 % moon phase and
~26 % aspects by squared norm. The Sun and Moon (never retrograde) and the node (always) have no
retrograde column: a constant column would only add the same amount to every similarity.

Speed: ``compute`` makes one Skyfield call per body over the whole time array (never a Python
loop per time); ``python -m bench.patterns --part astro`` measures it (target >= 10,000 days/s).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np

BODIES: tuple[str, ...] = (
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
PLANETS_THAT_RETROGRADE: tuple[str, ...] = (
    "mercury",
    "venus",
    "mars",
    "jupiter",
    "saturn",
    "uranus",
    "neptune",
    "pluto",
)
ASPECTS: dict[str, float] = {"conjunction": 0.0, "sextile": 60.0, "square": 90.0, "trine": 120.0, "opposition": 180.0}
DEFAULT_ORBS: dict[str, float] = {"conjunction": 8.0, "sextile": 5.0, "square": 7.0, "trine": 7.0, "opposition": 8.0}
MAX_ORB = 30.0
SIGNS: tuple[str, ...] = (
    "aries",
    "taurus",
    "gemini",
    "cancer",
    "leo",
    "virgo",
    "libra",
    "scorpio",
    "sagittarius",
    "capricorn",
    "aquarius",
    "pisces",
)
MOON_PHASES: tuple[str, ...] = (
    "new",
    "waxing_crescent",
    "first_quarter",
    "waxing_gibbous",
    "full",
    "waning_gibbous",
    "last_quarter",
    "waning_crescent",
)
BODY_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (first, second) for i, first in enumerate(BODIES) for second in BODIES[i + 1 :]
)
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2050, 12, 31)


def _layout(sizes: dict[str, int]) -> dict[str, slice]:
    starts = np.cumsum([0, *sizes.values()]).tolist()
    return {name: slice(start, start + size) for (name, size), start in zip(sizes.items(), starts, strict=False)}


FEATURE_LAYOUT: dict[str, slice] = _layout(
    {
        "longitude": 2 * len(BODIES),  # sin, cos
        "retrograde": len(PLANETS_THAT_RETROGRADE),
        "moon_phase": 2,  # sin, cos
        "aspects": len(BODY_PAIRS) * len(ASPECTS),
    }
)
FEATURE_WEIGHTS: dict[str, float] = {"longitude": 1.0, "retrograde": 0.5, "moon_phase": 1.5, "aspects": 1.0}
ASTRO_DIM: int = FEATURE_LAYOUT["aspects"].stop

# DE421 target names of the ten bodies Skyfield computes (BODIES without the node).
_SKYFIELD_TARGETS: dict[str, str] = {
    "sun": "sun",
    "moon": "moon",
    "mercury": "mercury",
    "venus": "venus",
    "mars": "mars",
    "jupiter": "jupiter barycenter",
    "saturn": "saturn barycenter",
    "uranus": "uranus barycenter",
    "neptune": "neptune barycenter",
    "pluto": "pluto barycenter",
}
_PAIR_INDEX = (
    np.array([BODIES.index(a) for a, _ in BODY_PAIRS]),
    np.array([BODIES.index(b) for _, b in BODY_PAIRS]),
)
_ASPECT_NAMES: tuple[tuple[str, ...], ...] = tuple(tuple(f"{a}-{kind}-{b}" for kind in ASPECTS) for a, b in BODY_PAIRS)
_RETROGRADE_COLUMNS = np.array([BODIES.index(body) for body in PLANETS_THAT_RETROGRADE])
_PHASE_EVENTS = ("new", "first_quarter", "full", "last_quarter")  # skyfield.almanac.moon_phases 0..3
_UNIX_EPOCH_DAY = np.datetime64("1970-01-01", "D")
# Civil times before UTC took its current form (leap seconds, 1972) are read as UT (UT1): Skyfield's
# utc() applies the 1972 offset to earlier dates too, which would put 1900 times 44 s late.
_UTC_LEAP_SECONDS_BEGIN = np.datetime64("1972-01-01T00:00:00", "s")
_J2000 = 2451545.0
_DAYS_PER_CENTURY = 36525.0
# Margin searched beyond the asked window for a retrograde period already under way or not yet
# over (Pluto's, the longest, last ~160 days); clipped to what the kernel covers.
_STATION_SEARCH_MARGIN_DAYS = 200
# The station search samples every so many days, a quarter of the body's shortest retrograde
# period (Mercury ~20 days, Venus ~40, Mars ~58, Jupiter and beyond >= 115), so that no period
# can fall between two samples; find_discrete then narrows each sign change down.
_STATION_STEP_DAYS: dict[str, float] = {
    "mercury": 5.0,
    "venus": 10.0,
    "mars": 14.0,
    "jupiter": 25.0,
    "saturn": 25.0,
    "uranus": 25.0,
    "neptune": 25.0,
    "pluto": 25.0,
}
_STATION_EPSILON_DAYS = 1.0 / 86400.0  # stations are located to about a second


class AstroRangeError(ValueError):
    """A time outside ``MIN_DATE`` .. ``MAX_DATE`` (the range the DE421 ephemeris supports)."""


@dataclass(frozen=True)
class AstroArrays:
    """Everything ``compute`` knows about n instants; columns follow ``BODIES``."""

    times: np.ndarray  # datetime64[s], UTC, (n,)
    longitude: np.ndarray  # (n, 11) float64 degrees [0, 360)
    speed: np.ndarray  # (n, 11) float64 degrees/day
    retrograde: np.ndarray  # (n, 11) bool
    sign: np.ndarray  # (n, 11) int8, index into SIGNS
    moon_phase_angle: np.ndarray  # (n,) float64 degrees [0, 360)
    moon_phase: np.ndarray  # (n,) int8, index into MOON_PHASES
    aspect_strength: np.ndarray  # (n, 55, 5) float32 [0, 1]
    aspect_applying: np.ndarray  # (n, 55, 5) bool

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class _Ephemeris:
    timescale: Any
    kernel: Any
    earth: Any
    sun: Any
    targets: dict[str, Any]
    first_jd: float  # TDB Julian dates the kernel covers
    last_jd: float
    utc_leap_seconds_begin_tt: float  # TT Julian date of 1972-01-01 00:00 UTC


@cache
def _ephemeris() -> _Ephemeris:
    """DE421 from skyfield-data and Skyfield's built-in timescale, loaded once, never downloaded."""
    import skyfield_data
    from skyfield.api import Loader

    with warnings.catch_warnings():
        # skyfield-data warns that the Earth-orientation file it also ships (finals2000A.all) is
        # out of date; it is never read here (the built-in timescale carries its own delta T).
        warnings.filterwarnings("ignore", message=r"The file finals2000A\.all", category=RuntimeWarning)
        path = skyfield_data.get_skyfield_data_path()
    loader = Loader(path, verbose=False)
    timescale = loader.timescale(builtin=True)
    kernel = loader("de421.bsp")
    first_jd = max(segment.spk_segment.start_jd for segment in kernel.segments)
    last_jd = min(segment.spk_segment.end_jd for segment in kernel.segments)
    # A day of margin each side for light time (Pluto's is ~5.5 hours).
    first_needed = timescale.utc(MIN_DATE.year, MIN_DATE.month, MIN_DATE.day).tdb - 1.0
    last_needed = timescale.utc(MAX_DATE.year, MAX_DATE.month, MAX_DATE.day + 1).tdb + 1.0
    if not first_jd <= first_needed < last_needed <= last_jd:
        raise RuntimeError(
            f"the shipped de421.bsp covers JD {first_jd} .. {last_jd}, not {MIN_DATE} .. {MAX_DATE}: "
            "MIN_DATE/MAX_DATE must stay inside the kernel"
        )
    return _Ephemeris(
        timescale=timescale,
        kernel=kernel,
        earth=kernel["earth"],
        sun=kernel["sun"],
        targets={body: kernel[name] for body, name in _SKYFIELD_TARGETS.items()},
        first_jd=first_jd,
        last_jd=last_jd,
        utc_leap_seconds_begin_tt=float(timescale.utc(1972, 1, 1).tt),
    )


# ---------------------------------------------------------------------------------------- times


def _range_error(value: object) -> AstroRangeError:
    return AstroRangeError(
        f"{value} is outside the supported range {MIN_DATE.isoformat()} 00:00 .. {MAX_DATE.isoformat()} 23:59:59 UTC "
        "(the span of the JPL DE421 ephemeris used here)"
    )


def _as_datetime64(value: object) -> np.datetime64:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware datetime (UTC)")
        return np.datetime64(value.astimezone(UTC).replace(tzinfo=None), "us").astype("datetime64[s]")
    if isinstance(value, date):
        return np.datetime64(value, "D").astype("datetime64[s]")
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[s]")
    raise TypeError(f"expected a datetime, date or numpy.datetime64, got {type(value).__name__}: {value!r}")


def _to_datetime64_array(times: np.ndarray | Sequence[datetime] | datetime | date) -> np.ndarray:
    if isinstance(times, str):
        raise TypeError(f"times must be datetimes, dates or numpy.datetime64, not a string: {times!r}")
    if isinstance(times, (date, np.datetime64)):
        times = [times]
    if isinstance(times, np.ndarray) and np.issubdtype(times.dtype, np.datetime64):
        values = times.astype("datetime64[s]").reshape(-1)
    else:
        values = np.array([_as_datetime64(value) for value in times], dtype="datetime64[s]").reshape(-1)
    if np.isnat(values).any():
        raise ValueError("times contain NaT (not a time)")
    return values


def _check_range(values: np.ndarray) -> None:
    if not values.size:
        return
    low, high = values.min(), values.max()
    if low < np.datetime64(MIN_DATE, "s"):
        raise _range_error(f"{low} UTC")
    if high >= np.datetime64(MAX_DATE + timedelta(days=1), "s"):
        raise _range_error(f"{high} UTC")


def _skyfield_time(values: np.ndarray):
    """A Skyfield ``Time`` array for datetime64[s] civil times (UT before 1972, UTC since), with
    the fast IAU 2000B nutation."""
    days = values.astype("datetime64[D]")
    seconds = (values - days).astype(np.int64)
    day_numbers = (days - _UNIX_EPOCH_DAY).astype(np.int64)
    timescale = _ephemeris().timescale
    t = timescale.utc(1970, 1, 1 + day_numbers, 0, 0, seconds)
    early = values < _UTC_LEAP_SECONDS_BEGIN
    if early.any():
        ut1 = timescale.ut1(1970, 1, 1 + day_numbers, 0, 0, seconds)
        t = timescale.tt_jd(np.where(early, ut1.whole, t.whole), np.where(early, ut1.tt_fraction, t.tt_fraction))
    _use_iau2000b(t)
    return t


def _civil_datetimes(t) -> list[datetime]:
    """Timezone-aware civil times of a Skyfield ``Time`` array: UT before 1972, UTC since."""
    times = t.utc_datetime()
    early = np.nonzero(t.tt < _ephemeris().utc_leap_seconds_begin_tt)[0]
    if early.size:
        year, month, day, hour, minute, second = t[early].ut1_calendar()
        for index, parts in zip(early.tolist(), zip(year, month, day, hour, minute, second, strict=True), strict=True):
            times[index] = datetime(*(int(part) for part in parts[:5]), tzinfo=UTC) + timedelta(seconds=float(parts[5]))
    return [moment.astimezone(UTC) for moment in times]


def _use_iau2000b(t) -> None:
    # As skyfield.almanac does: the 77-term IAU 2000B series (within 1 mas of 2000A, ~20x faster).
    from skyfield.nutationlib import iau2000b_radians

    t._nutation_angles_radians = iau2000b_radians(t)


def _as_utc_datetime(value: datetime | date, what: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {what}={value.isoformat()}: pass a timezone-aware datetime (UTC)")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"{what} must be a datetime or date, got {type(value).__name__}")


def _as_date(value: date, what: str) -> date:
    if isinstance(value, datetime):
        return _as_utc_datetime(value, what).date()
    if isinstance(value, date):
        return value
    raise TypeError(f"{what} must be a date, got {type(value).__name__}")


# ------------------------------------------------------------------------------------ positions


def mean_node(jd_tt: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Longitude (degrees, mean equinox of date) of the Moon's mean ascending node and its rate
    (degrees/day) at TT Julian dates: Meeus, *Astronomical Algorithms* (2nd ed.), eq. 47.7."""
    t = (np.asarray(jd_tt, dtype=np.float64) - _J2000) / _DAYS_PER_CENTURY
    longitude = 125.0445479 + t * (-1934.1362891 + t * (0.0020754 + t * (1.0 / 467441.0 - t / 60616000.0)))
    rate = -1934.1362891 + t * (2 * 0.0020754 + t * (3.0 / 467441.0 - t * 4.0 / 60616000.0))
    return np.mod(longitude, 360.0), rate / _DAYS_PER_CENTURY


def _nutation_of(t) -> np.ndarray:
    """Delta psi in degrees that ``t`` itself uses (IAU 2000B, set by ``_use_iau2000b``)."""
    return np.degrees(t._nutation_angles_radians[0])


def _nutation_in_longitude(jd_tt: np.ndarray) -> np.ndarray:
    """Delta psi in degrees (IAU 2000B)."""
    from skyfield.nutationlib import iau2000b

    tenth_microarcseconds, _ = iau2000b(jd_tt)
    return tenth_microarcseconds * 1e-7 / 3600.0


def _precession_rate(jd_tt: np.ndarray) -> np.ndarray:
    """General precession in longitude (IAU 2006: 5028.796195" T + 1.1054348" T^2 + ...), d/dt
    in degrees/day."""
    t = (jd_tt - _J2000) / _DAYS_PER_CENTURY
    return (5028.796195 + 2 * 1.1054348 * t) / 3600.0 / _DAYS_PER_CENTURY


def _nutation_rate(jd_tt: np.ndarray, nutation: np.ndarray) -> np.ndarray:
    """d(delta psi)/dt in degrees/day, given delta psi (degrees) at ``jd_tt``: a forward difference
    over one hour (delta psi's second derivative is below 0.05"/day^2, so the error is < 0.001"/day;
    the rate itself is at most ~0.1"/day)."""
    step = 1.0 / 24.0
    return (_nutation_in_longitude(jd_tt + step) - nutation) / step


def _apparent_longitudes(
    t, bodies: Sequence[str], nutation_rate: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) apparent ecliptic longitudes of date (degrees) and their rates (degrees/day).

    One Skyfield evaluation per body over the whole Time array; the rate is the analytic one from
    the same apparent position (see the module docstring for the three terms added to it)."""
    from skyfield.constants import AU_KM, C_AUDAY, DAY_S, GM_SUN_Pitjeva_2005_km3_s2
    from skyfield.framelib import ecliptic_frame
    from skyfield.functions import length_of, mxv

    eph = _ephemeris()
    n = len(t.tt)
    earth = eph.earth.at(t)
    earth_velocity = earth.velocity.au_per_d
    to_sun = eph.sun.at(t).xyz.au - earth.xyz.au
    gm_sun = GM_SUN_Pitjeva_2005_km3_s2 / AU_KM**3 * DAY_S**2  # au^3/day^2
    # Aberration follows the observer's velocity; its change (Earth's acceleration toward the Sun,
    # over c) turns the apparent direction at up to ~0.35"/day. The Moon's pull is 0.6 % of it.
    aberration_turn = gm_sun * to_sun / length_of(to_sun) ** 3 / C_AUDAY  # 1/day
    rotation = ecliptic_frame.rotation_at(t)
    # The true equinox of date slides back along the ecliptic, so every longitude of date grows by
    # the general precession plus the rate of the nutation in longitude.
    if nutation_rate is None:
        nutation_rate = _nutation_rate(t.tt, _nutation_of(t))
    frame_rate = _precession_rate(t.tt) + nutation_rate
    longitude = np.empty((n, len(bodies)))
    rate = np.empty((n, len(bodies)))
    for column, body in enumerate(bodies):
        astrometric = earth.observe(eph.targets[body])
        position = astrometric.apparent(deflectors=()).xyz.au  # aberration, no deflection
        velocity = astrometric.velocity.au_per_d  # target at (t - light time) minus Earth at t
        # d/dt of the light time: the target is seen as it was tau ago, and tau changes.
        light_time_rate = np.einsum("i...,i...->...", astrometric.xyz.au, velocity) / (
            length_of(astrometric.xyz.au) * C_AUDAY
        )
        velocity = velocity - (velocity + earth_velocity) * light_time_rate
        distance = length_of(position)
        direction = position / distance
        along = np.einsum("i...,i...->...", direction, aberration_turn)
        velocity = velocity + distance * (aberration_turn - along * direction)
        x, y, _ = mxv(rotation, position)
        vx, vy, _ = mxv(rotation, velocity)
        longitude[:, column] = np.degrees(np.arctan2(y, x))
        rate[:, column] = np.degrees((x * vy - y * vx) / (x * x + y * y)) + frame_rate
    return _wrap(longitude), rate


def _wrap(degrees: np.ndarray) -> np.ndarray:
    wrapped = np.mod(degrees, 360.0)
    return np.where(wrapped >= 360.0, wrapped - 360.0, wrapped)  # np.mod(-1e-15, 360) == 360.0


def _validated_orbs(orbs: Mapping[str, float] | None) -> np.ndarray:
    merged = dict(DEFAULT_ORBS)
    for aspect, orb in (orbs or {}).items():
        if aspect not in ASPECTS:
            raise ValueError(f"unknown aspect {aspect!r} in orbs: valid aspects are {', '.join(ASPECTS)}")
        if not (isinstance(orb, (int, float)) and math.isfinite(orb) and 0 < orb <= MAX_ORB):
            raise ValueError(f"orb for {aspect} must be a number of degrees in (0, {MAX_ORB:g}], got {orb!r}")
        merged[aspect] = float(orb)
    return np.array([merged[aspect] for aspect in ASPECTS], dtype=np.float32)


def _aspects(longitude: np.ndarray, speed: np.ndarray, orbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, second = _PAIR_INDEX
    difference = longitude[:, second] - longitude[:, first]
    difference = np.mod(difference + 180.0, 360.0) - 180.0  # [-180, 180)
    separation = np.abs(difference).astype(np.float32)  # (n, 55) in [0, 180]
    separation_rate = (np.sign(difference) * (speed[:, second] - speed[:, first])).astype(np.float32)
    strength = np.empty((len(longitude), len(BODY_PAIRS), len(ASPECTS)), dtype=np.float32)
    applying = np.empty(strength.shape, dtype=bool)
    # One aspect at a time on (n, 55) arrays: fewer passes over memory than one (n, 55, 5) block.
    for index, angle in enumerate(ASPECTS.values()):
        offset = separation - np.float32(angle)  # separation minus the aspect angle
        closeness = np.abs(offset)
        closeness *= np.float32(-1.0 / orbs[index])
        closeness += np.float32(1.0)  # 1 - |offset| / orb
        np.maximum(closeness, 0.0, out=closeness)
        strength[:, :, index] = closeness
        applying[:, :, index] = (offset * separation_rate < 0) & (closeness > 0)  # |offset| shrinking
    return strength, applying


def _empty(values: np.ndarray) -> AstroArrays:
    bodies, pairs, aspects = len(BODIES), len(BODY_PAIRS), len(ASPECTS)
    return AstroArrays(
        times=values,
        longitude=np.empty((0, bodies)),
        speed=np.empty((0, bodies)),
        retrograde=np.empty((0, bodies), dtype=bool),
        sign=np.empty((0, bodies), dtype=np.int8),
        moon_phase_angle=np.empty(0),
        moon_phase=np.empty(0, dtype=np.int8),
        aspect_strength=np.empty((0, pairs, aspects), dtype=np.float32),
        aspect_applying=np.empty((0, pairs, aspects), dtype=bool),
    )


def compute(
    times: np.ndarray | Sequence[datetime],
    orbs: Mapping[str, float] | None = None,
) -> AstroArrays:
    """Positions, speeds, signs, moon phase and aspects at each of ``times`` (UTC; UT before 1972).

    Vectorised: one Skyfield evaluation per body over the whole array. ``orbs`` overrides any of
    ``DEFAULT_ORBS``. Raises ``AstroRangeError`` for a time outside ``MIN_DATE`` .. ``MAX_DATE``.
    """
    orb_array = _validated_orbs(orbs)
    values = _to_datetime64_array(times)
    _check_range(values)
    if not values.size:
        return _empty(values)
    t = _skyfield_time(values)
    longitude = np.empty((values.size, len(BODIES)))
    speed = np.empty_like(longitude)
    nutation = _nutation_of(t)
    nutation_rate = _nutation_rate(t.tt, nutation)
    longitude[:, :-1], speed[:, :-1] = _apparent_longitudes(t, BODIES[:-1], nutation_rate)
    node, node_rate = mean_node(t.tt)
    longitude[:, -1] = _wrap(node + nutation)
    # Meeus's polynomial already moves with the mean equinox (precession is inside it); only the
    # nutation in longitude is added to it, so only that rate is added to its speed.
    speed[:, -1] = node_rate + nutation_rate
    retrograde = speed < 0
    retrograde[:, :2] = False  # the Sun and Moon never move backwards (speed > 0 anyway)
    sign = np.minimum(longitude // 30.0, 11).astype(np.int8)
    phase_angle = _wrap(longitude[:, 1] - longitude[:, 0])
    moon_phase = (np.mod(phase_angle + 22.5, 360.0) // 45.0).astype(np.int8) % 8
    strength, applying = _aspects(longitude, speed, orb_array)
    return AstroArrays(
        times=values,
        longitude=longitude,
        speed=speed,
        retrograde=retrograde,
        sign=sign,
        moon_phase_angle=phase_angle,
        moon_phase=moon_phase,
        aspect_strength=strength,
        aspect_applying=applying,
    )


def compute_days(start: date, end: date, orbs: Mapping[str, float] | None = None) -> AstroArrays:
    """``compute`` at 00:00 UTC of every day from ``start`` to ``end`` inclusive."""
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1).astype("datetime64[s]")
    return compute(days, orbs)


# ------------------------------------------------------------------------------ feature vectors


def feature_vector(arrays: AstroArrays) -> np.ndarray:
    """(n, ASTRO_DIM) float32 rows of unit L2 norm, in the layout of the module docstring."""
    n = len(arrays.times)
    vector = np.empty((n, ASTRO_DIM), dtype=np.float64)
    radians = np.radians(arrays.longitude)
    block = vector[:, FEATURE_LAYOUT["longitude"]]
    block[:, 0::2] = np.sin(radians)
    block[:, 1::2] = np.cos(radians)
    vector[:, FEATURE_LAYOUT["retrograde"]] = np.where(arrays.retrograde[:, _RETROGRADE_COLUMNS], 1.0, -1.0)
    phase = np.radians(arrays.moon_phase_angle)
    vector[:, FEATURE_LAYOUT["moon_phase"]] = np.stack([np.sin(phase), np.cos(phase)], axis=1)
    vector[:, FEATURE_LAYOUT["aspects"]] = arrays.aspect_strength.reshape(n, len(BODY_PAIRS) * len(ASPECTS))
    for name, columns in FEATURE_LAYOUT.items():
        vector[:, columns] *= FEATURE_WEIGHTS[name]
    vector /= np.linalg.norm(vector, axis=1, keepdims=True)
    return vector.astype(np.float32)


# ---------------------------------------------------------------------------------------- names


def _known(value: str, valid: Sequence[str], what: str) -> str:
    name = value.strip().lower() if isinstance(value, str) else value
    if name not in valid:
        raise ValueError(f"unknown {what} {value!r}: valid {what}s are {', '.join(valid)}")
    return name


def aspect_name(body1: str, aspect: str, body2: str) -> str:
    """``"<body1>-<aspect>-<body2>"`` with the bodies in ``BODIES`` order."""
    first, second = _known(body1, BODIES, "body"), _known(body2, BODIES, "body")
    kind = _known(aspect, tuple(ASPECTS), "aspect")
    if first == second:
        raise ValueError(f"an aspect needs two different bodies, got {first!r} twice")
    if BODIES.index(first) > BODIES.index(second):
        first, second = second, first
    return f"{first}-{kind}-{second}"


def aspects_present(arrays: AstroArrays, row: int) -> list[str]:
    """Names of the aspects within orb at ``row``, in ``BODY_PAIRS`` then ``ASPECTS`` order."""
    pairs, kinds = np.nonzero(arrays.aspect_strength[row] > 0)
    return [_ASPECT_NAMES[pair][kind] for pair, kind in zip(pairs.tolist(), kinds.tolist(), strict=True)]


# ------------------------------------------------------------------------------------- searches


def _retrograde_body(body: str) -> str:
    if body not in PLANETS_THAT_RETROGRADE:
        raise ValueError(
            f"unknown body {body!r} for retrograde motion: valid bodies are {', '.join(PLANETS_THAT_RETROGRADE)}"
            " (the Sun and Moon never retrograde; the mean node always does)"
        )
    return body


def _day_range(start: date, end: date) -> tuple[date, date]:
    start, end = _as_date(start, "start"), _as_date(end, "end")
    for value in (start, end):
        if not MIN_DATE <= value <= MAX_DATE:
            raise _range_error(value)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return start, end


def _station_search(body: str, first_jd: float, last_jd: float) -> tuple[bool, list[tuple[datetime, bool]]]:
    """Whether ``body`` is retrograde at TT ``first_jd``, and each station until ``last_jd`` as
    (UTC instant, True if it turns retrograde there): the instants its longitude rate, exactly as
    ``compute`` reports it, changes sign (Skyfield's ``find_discrete``, to about a second)."""
    from skyfield.searchlib import find_discrete

    timescale = _ephemeris().timescale

    def is_retrograde(t) -> np.ndarray:
        _use_iau2000b(t)
        return (_apparent_longitudes(t, (body,))[1][:, 0] < 0).astype(np.int8)

    is_retrograde.step_days = _STATION_STEP_DAYS[body]
    first, last = timescale.tt_jd(first_jd), timescale.tt_jd(last_jd)
    times, values = find_discrete(first, last, is_retrograde, epsilon=_STATION_EPSILON_DAYS)
    began = bool(is_retrograde(timescale.tt_jd(np.array([first_jd])))[0])
    instants = _civil_datetimes(times) if len(values) else []
    return began, [
        (instant.astimezone(UTC), bool(value)) for instant, value in zip(instants, values.tolist(), strict=True)
    ]


def _tt_jd_at_midnight(day: date) -> float:
    return float(_skyfield_time(np.array([np.datetime64(day, "s")])).tt[0])


def stations(body: str, start: date, end: date) -> list[tuple[datetime, str]]:
    """Stations of ``body`` from ``start`` 00:00 to ``end`` 24:00 UTC: (UTC instant, "retrograde"
    where it turns retrograde or "direct" where it turns direct), located to about a second."""
    body = _retrograde_body(body)
    start, end = _day_range(start, end)
    first_jd, last_jd = _tt_jd_at_midnight(start), _tt_jd_at_midnight(end + timedelta(days=1))
    _, found = _station_search(body, first_jd, last_jd)
    return [(instant, "retrograde" if turns else "direct") for instant, turns in found]


def retrograde_periods(body: str, start: date, end: date) -> list[tuple[date, date]]:
    """Retrograde periods of ``body`` that overlap ``start`` .. ``end`` (inclusive UTC days), as
    (UTC day of the station retrograde, UTC day of the station direct); see ``stations``.

    Periods that begin before ``start`` or end after ``end`` are reported whole (the search runs
    ``_STATION_SEARCH_MARGIN_DAYS`` beyond the window; the longest period, Pluto's, lasts ~160).
    So the ``compute`` retrograde flag at 00:00 UTC of day D is True exactly when D is after the
    first and not after the second date of a period.
    """
    body = _retrograde_body(body)
    start, end = _day_range(start, end)
    eph = _ephemeris()
    first_jd = max(_tt_jd_at_midnight(start) - _STATION_SEARCH_MARGIN_DAYS, eph.first_jd + 1.0)
    last_jd = min(_tt_jd_at_midnight(end + timedelta(days=1)) + _STATION_SEARCH_MARGIN_DAYS, eph.last_jd - 1.0)
    began, found = _station_search(body, first_jd, last_jd)
    periods: list[tuple[date, date]] = []
    # Retrograde where the search starts only where it was clipped to the kernel's first days
    # (1899-07/08): no such period reaches MIN_DATE (the earliest that does, Pluto's, began on
    # 1899-09-16), so that partial period is always dropped by the overlap filter below.
    opened: date | None = _civil_datetimes(eph.timescale.tt_jd([first_jd]))[0].date() if began else None
    for instant, turns_retrograde in found:
        if turns_retrograde:
            opened = instant.date()
        elif opened is not None:
            periods.append((opened, instant.date()))
            opened = None
    if opened is not None:  # still retrograde where the (kernel-clipped) search ends
        periods.append((opened, _civil_datetimes(eph.timescale.tt_jd([last_jd]))[0].date()))
    return [(first, last) for first, last in periods if first <= end and last >= start]


def moon_phase_events(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Exact instants (UTC; UT before 1972; to ~1 ms) of new moon, first quarter, full moon and last quarter
    between ``start`` and ``end``: Skyfield's almanac (the apparent ecliptic longitude of the Moon
    minus the Sun's reaching 0, 90, 180, 270 degrees)."""
    from skyfield import almanac

    start, end = _as_utc_datetime(start, "start"), _as_utc_datetime(end, "end")
    _check_range(np.array([_as_datetime64(start), _as_datetime64(end)]))
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    eph = _ephemeris()
    t0, t1 = _skyfield_time(np.array([_as_datetime64(start), _as_datetime64(end)]))
    times, phases = almanac.find_discrete(t0, t1, almanac.moon_phases(eph.kernel))
    instants = _civil_datetimes(times) if len(times) else []
    return [
        (instant.astimezone(UTC), _PHASE_EVENTS[phase])
        for instant, phase in zip(instants, phases.tolist(), strict=True)
    ]
