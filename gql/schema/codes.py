from __future__ import annotations

from enum import Enum

import strawberry

from db import codes


@strawberry.type(description="An entry of a code table (代码表), e.g. education 21 大学.")
class Code:
    code: str
    label: str

    @classmethod
    def of(cls, table: str, code: str | None) -> "Code | None":
        if code is None:
            return None
        return cls(code=code, label=codes.label(table, code) or code)


@strawberry.enum
class CodeTable(Enum):
    EDUCATION = strawberry.enum_value("EDUCATION", description="学历")
    DEGREE = strawberry.enum_value("DEGREE", description="学位")
    ETHNICITY = strawberry.enum_value("ETHNICITY", description="民族")
    JOB_POSITION = strawberry.enum_value("JOB_POSITION", description="工作岗位")
    TECHNICAL_TITLE = strawberry.enum_value("TECHNICAL_TITLE", description="专业技术职务")
    DIFFICULTY_KIND = strawberry.enum_value("DIFFICULTY_KIND", description="困难类型")
    REWARD = strawberry.enum_value("REWARD", description="奖励名称 (功勋荣誉表彰)")
    PUNISHMENT = strawberry.enum_value("PUNISHMENT", description="党内惩戒")
    PARTY_POSITION = strawberry.enum_value("PARTY_POSITION", description="党内职务")


def codes_of(table: CodeTable) -> list[Code]:
    return [Code(code=c, label=label) for c, label in codes.entries(table.value.lower())]
