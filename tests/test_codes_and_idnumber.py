"""Code tables (db.codes) and GB 11643 citizen ID numbers (db.idnumber). No DB, no GraphQL."""

import datetime
import re
from pathlib import Path

import pytest

from db import codes, idnumber
from db.idnumber import InvalidIdNumber

SCHEMA = Path("/work/shared/contract/schema.graphql")


# ----------------------------------------------------------------- code tables


@pytest.mark.parametrize("table", codes.TABLES)
def test_table_loads_with_unique_codes(table):
    rows = codes.entries(table)
    assert rows, table
    codes_ = [c for c, _ in rows]
    assert len(codes_) == len(set(codes_)), table
    assert all(c and lbl for c, lbl in rows)
    assert all(c.isdigit() for c in codes_), table
    assert codes.entries(table) is rows  # cached


def test_tables_match_files_and_schema_enum():
    files = {p.stem for p in Path(codes.__file__).parent.glob("*.csv")}
    assert files == set(codes.TABLES)
    if SCHEMA.exists():
        text = SCHEMA.read_text(encoding="utf-8")
        body = re.search(r"enum CodeTable \{(.*?)\}", text, re.S).group(1)
        values = {v.lower() for v in re.findall(r"^\s*([A-Z_]+)\s*$", body, re.M)}
        assert values == set(codes.TABLES)


def test_csv_header():
    for table in codes.TABLES:
        first = (Path(codes.__file__).parent / f"{table}.csv").read_text(encoding="utf-8").splitlines()[0]
        assert first == "code,label"


def test_ethnicity():
    rows = codes.entries("ethnicity")
    numbered = [c for c, _ in rows if int(c) <= 56]
    assert numbered == [f"{n:02d}" for n in range(1, 57)]
    assert codes.label("ethnicity", "01") == "汉族"
    assert codes.label("ethnicity", "56") == "基诺族"
    assert codes.label("ethnicity", "10") == "朝鲜族"
    assert {c for c, _ in rows} - set(numbered) <= {"97", "98"}


def test_label_and_is_valid():
    assert codes.label("education", "21") == "大学本科毕业"
    assert codes.label("technical_title", "11") == "正高级"
    assert codes.label("job_position", "10201") == "事业单位管理岗位（含参照管理）"
    assert codes.label("reward", "51") == "优秀共产党员"
    assert codes.label("ethnicity", None) is None
    assert codes.label("ethnicity", "99") is None
    assert codes.is_valid("ethnicity", "01")
    assert not codes.is_valid("ethnicity", "1")
    assert not codes.is_valid("degree", "")


def test_unknown_table():
    with pytest.raises(KeyError):
        codes.entries("nope")
    with pytest.raises(KeyError):
        codes.label("nope", "1")
    with pytest.raises(KeyError):
        codes.is_valid("nope", "1")


# ------------------------------------------------------------------ ID numbers


def test_make_then_parse():
    birth = datetime.date(1985, 7, 1)
    number = idnumber.make("430102", birth, 123)
    assert len(number) == 18 and number.startswith("43010219850701123")
    assert idnumber.parse(number) == (number, birth, "MALE")
    female = idnumber.make("430102", birth, 124)
    assert idnumber.parse(female)[2] == "FEMALE"


def test_check_digit_x_example():
    # GB 11643 example: 11010519491231002X
    first17 = "11010519491231002"
    assert idnumber.check_digit(first17) == "X"
    assert idnumber.make("110105", datetime.date(1949, 12, 31), 2) == first17 + "X"
    number, birth, gender = idnumber.parse(" 110105 19491231 002x ")
    assert number == "11010519491231002X"
    assert birth == datetime.date(1949, 12, 31)
    assert gender == "FEMALE"  # 17th digit 2 is even


def test_check_digit_table():
    # every remainder 0..10 maps to its GB 11643 check character
    seen = {idnumber.check_digit(idnumber.make("110105", datetime.date(1990, 1, 1), s)[:17])
            for s in range(200)}
    assert seen == set("10X98765432")


@pytest.mark.parametrize("seq,gender", [(1, "MALE"), (10, "FEMALE"), (999, "MALE"), (0, "FEMALE")])
def test_gender_from_17th_digit(seq, gender):
    number = idnumber.make("320106", datetime.date(2000, 2, 29), seq)
    assert idnumber.parse(number)[2] == gender


def _with_check(first17):
    return first17 + idnumber.check_digit(first17)


def test_wrong_check_digit():
    good = idnumber.make("430102", datetime.date(1985, 7, 1), 123)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(InvalidIdNumber, match="校验码"):
        idnumber.parse(bad)


@pytest.mark.parametrize("first17", [
    "43010219850230123",   # Feb 30
    "43010219851301123",   # month 13
    "43010220230229123",   # 2023 not a leap year
    "43010218991231123",   # before 1900
    "43010299991231123",   # future
])
def test_bad_birth_date(first17):
    with pytest.raises(InvalidIdNumber, match="出生日期"):
        idnumber.parse(_with_check(first17))


@pytest.mark.parametrize("value", ["", "4301021985070112", "4301021985070112345", "430102850701123"])
def test_wrong_length(value):
    with pytest.raises(InvalidIdNumber, match="位数"):
        idnumber.parse(value)


@pytest.mark.parametrize("value", ["43010219850701A234", "X30102198507011234", "43010219850701123Y",
                                   "4301021985070112X4"])
def test_letters_rejected(value):
    with pytest.raises(InvalidIdNumber):
        idnumber.parse(value)


def test_invalid_id_number_is_value_error():
    assert issubclass(InvalidIdNumber, ValueError)


def test_make_rejects_bad_input():
    with pytest.raises(ValueError):
        idnumber.make("43010", datetime.date(1985, 7, 1), 1)
    with pytest.raises(ValueError):
        idnumber.make("430102", datetime.date(1985, 7, 1), 1000)
    with pytest.raises(ValueError):
        idnumber.make("430102", datetime.date(1985, 7, 1), -1)


def test_mask():
    # The contract: first 3 and last 2 shown. Birth date is readable elsewhere, so the region,
    # the sequence digits and the check digit must stay hidden.
    assert idnumber.mask("11010519491231002X") == "110*************2X"
    masked = idnumber.mask(idnumber.make("430102", datetime.date(1985, 7, 1), 123))
    assert len(masked) == 18 and masked[3:16] == "*" * 13 and masked.startswith("430")
