"""GB 11643-1999 citizen ID number (公民身份号码 / 居民身份证号码).

18 characters: 6-digit area code, 8-digit birth date YYYYMMDD, 3-digit sequence
(odd = male, even = female) and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import datetime
import re
from db import clock

__all__ = ["InvalidIdNumber", "parse", "check_digit", "make", "mask"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_MIN_BIRTH = datetime.date(1900, 1, 1)
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


class InvalidIdNumber(ValueError):
    """The string is not a valid 18-character citizen ID number."""


def check_digit(first17: str) -> str:
    """The check character ('0'-'9' or 'X') for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise InvalidIdNumber("身份证号码前17位必须是17位数字")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


def parse(id_number: str) -> tuple[str, datetime.date, str]:
    """Validate; return (normalized number, birth date, "MALE" | "FEMALE")."""
    if not isinstance(id_number, str):
        raise InvalidIdNumber("身份证号码必须是字符串")
    number = "".join(id_number.split()).upper()
    if len(number) != 18:
        raise InvalidIdNumber(f"身份证号码位数错误：应为18位，实际为{len(number)}位")
    if not _SHAPE.fullmatch(number):
        raise InvalidIdNumber("身份证号码格式错误：前17位必须是数字，最后一位必须是数字或X")
    try:
        birth = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber(f"身份证号码中的出生日期无效：{number[6:14]}") from None
    if birth < _MIN_BIRTH:
        raise InvalidIdNumber(f"身份证号码中的出生日期早于1900年1月1日：{number[6:14]}")
    if birth > clock.today():
        raise InvalidIdNumber(f"身份证号码中的出生日期晚于今天：{number[6:14]}")
    expected = check_digit(number[:17])
    if number[17] != expected:
        raise InvalidIdNumber(f"身份证号码校验码错误：最后一位应为{expected}，实际为{number[17]}")
    gender = "MALE" if int(number[16]) % 2 == 1 else "FEMALE"
    return number, birth, gender


def make(region: str, birth: datetime.date, sequence: int) -> str:
    """Build a valid number from a 6-digit region code, birth date and sequence 0..999.

    The parity of ``sequence`` gives the gender (odd = male, even = female).
    """
    if len(region) != 6 or not region.isascii() or not region.isdigit():
        raise InvalidIdNumber("地区码必须是6位数字")
    if not 0 <= sequence <= 999:
        raise InvalidIdNumber("顺序码必须在0到999之间")
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    if len(first17) != 17:
        raise InvalidIdNumber("出生日期年份必须是4位")
    return first17 + check_digit(first17)


def mask(id_number: str) -> str:
    """What a VIEWER sees of an ID number, everywhere it leaves the server (GraphQL, exports, the
    audit trail): the first 3 and the last 2 characters, the rest as '*'. The first 6 and last 4
    were shown before; with birthDate readable that left only the 3-digit sequence hidden, and the
    check digit gave it away in at most 1,000 guesses. Now region, sequence and check digit are
    hidden too."""
    s = "".join(id_number.split())
    if len(s) <= 5:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 5) + s[-2:]
