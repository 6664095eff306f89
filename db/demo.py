"""Demo data: a realistic party organization tree with members, built fast into an empty database.

`generate(engine, orgs, members, seed)` plans the whole tree in Python (ids 1..orgs in breadth-first
order, so every path and code is known before anything is written), then writes it with Core bulk
inserts (executemany over chunks of rows) inside one transaction. Members are generated and written
chunk by chunk so that a million of them never sit in memory at once. The same seed gives the same
data (dates are drawn relative to `today`, which can be pinned).

Shape: 市委 → 党委 / 党工委 (机关工委, 国企, 区县, 医院, 学校, 园区...) → 下属党委 / 党总支 / 党支部
→ (社区/村党委 →) 党支部; branches are leaves and hold almost all members (about members/branches
each), a few sit in committees and general branches.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import deque
from itertools import accumulate
from typing import Callable, Iterator

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import clock, codes, idnumber, models
from db.engine import WRITE_OPTION, analyze
from db.services import history
from db.services.members import completeness_percent, recount
from db.tree import CODE_SUFFIX_DIGITS, child_path

__all__ = ["generate"]

CITY = "示范市"
ROOT_CODE = "001"
ESTABLISHED_FROM = dt.date(1980, 1, 1)
ESTABLISHED_TO = dt.date(2020, 12, 31)
BIRTH_FROM = dt.date(1940, 1, 1)
BIRTH_TO = dt.date(2004, 12, 31)
MEMBER_CHUNK = 10_000
ORG_CHUNK = 10_000
MAX_CHILDREN = 10 ** CODE_SUFFIX_DIGITS - 1

COMMITTEE = "COMMITTEE"
WORKING_COMMITTEE = "WORKING_COMMITTEE"
GENERAL_BRANCH = "GENERAL_BRANCH"
BRANCH = "BRANCH"
JOINT_BRANCH = "JOINT_BRANCH"
LEAVES = (BRANCH, JOINT_BRANCH)

# ------------------------------------------------------------------ Chinese numerals

_DIGITS = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """1 → 一, 10 → 十, 21 → 二十一, 105 → 一百零五, 1200 → 一千二百 (1 ≤ n ≤ 9999)."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        head = _DIGITS[n // 100] + "百"
        if rest == 0:
            return head
        if rest < 10:
            return head + "零" + _DIGITS[rest]
        if rest < 20:
            return head + "一" + cn_number(rest)
        return head + cn_number(rest)
    rest = n % 1000
    head = _DIGITS[n // 1000] + "千"
    if rest == 0:
        return head
    return head + ("零" if rest < 100 else "") + cn_number(rest)


# ------------------------------------------------------------------ organization vocabulary

# Level-1 units: (type, unit words, short name, family, prefix for its branches, prefix for its sub-units).
# The name is 中共示范市 + unit words + 委员会 (工作委员会 for a working committee).
_FIRST_UNITS = [
    (WORKING_COMMITTEE, "直属机关", "市直机关工委", "gov", "直属机关工委", ""),
    (COMMITTEE, "第三建设集团有限公司", "三建集团党委", "soe", "第三建设集团有限公司", "第三建设集团"),
    (WORKING_COMMITTEE, "高新技术产业开发区", "高新区党工委", "park", "高新区工委", ""),
    (COMMITTEE, "东城区", "东城区委", "district", "东城区委", "东城区"),
    (COMMITTEE, "第一人民医院", "市一医院党委", "hospital", "第一人民医院", "第一人民医院"),
    (WORKING_COMMITTEE, "教育", "市委教育工委", "edu", "教育工委", ""),
    (COMMITTEE, "国有资产监督管理委员会", "市国资委党委", "sasac", "国资委", ""),
    (WORKING_COMMITTEE, "非公有制经济组织和社会组织", "两新工委", "park", "两新工委", ""),
]
_MORE_UNITS = [
    (WORKING_COMMITTEE, "经济技术开发区", "经开区党工委", "park", "经开区工委", ""),
    (WORKING_COMMITTEE, "综合保税区", "综保区党工委", "park", "综保区工委", ""),
    (WORKING_COMMITTEE, "临空经济示范区", "临空区党工委", "park", "临空区工委", ""),
    (COMMITTEE, "中心医院", "市中心医院党委", "hospital", "中心医院", "中心医院"),
    (COMMITTEE, "中医医院", "市中医院党委", "hospital", "中医医院", "中医医院"),
    (COMMITTEE, "第二人民医院", "市二医院党委", "hospital", "第二人民医院", "第二人民医院"),
    (COMMITTEE, "第三人民医院", "市三医院党委", "hospital", "第三人民医院", "第三人民医院"),
    (COMMITTEE, "妇幼保健院", "市妇幼保健院党委", "hospital", "妇幼保健院", "妇幼保健院"),
    (COMMITTEE, "肿瘤医院", "市肿瘤医院党委", "hospital", "肿瘤医院", "肿瘤医院"),
    (COMMITTEE, "示范学院", "示范学院党委", "school", "示范学院", "示范学院"),
    (COMMITTEE, "职业技术学院", "市职院党委", "school", "职业技术学院", "职业技术学院"),
    (COMMITTEE, "师范高等专科学校", "市师专党委", "school", "师范高等专科学校", "师范高等专科学校"),
    (COMMITTEE, "开放大学", "市开放大学党委", "school", "开放大学", "开放大学"),
]
_DISTRICTS = ["西城区", "南湖区", "北山区", "江北区", "河西区", "新港区", "青山县", "白石县", "云溪县", "桃源县",
              "龙泉市", "金江市"]
# Group companies: (full words, short).
_GROUPS = [
    ("城市建设投资集团有限公司", "城投集团"), ("交通投资集团有限公司", "交投集团"), ("水务集团有限公司", "水务集团"),
    ("轨道交通集团有限公司", "轨道集团"), ("公共交通集团有限公司", "公交集团"), ("燃气集团有限公司", "燃气集团"),
    ("文化旅游投资集团有限公司", "文旅集团"), ("粮食集团有限责任公司", "粮食集团"),
    ("国有资本投资运营集团有限公司", "国投集团"), ("第一建设集团有限公司", "一建集团"),
    ("第二建设集团有限公司", "二建集团"), ("第四建设集团有限公司", "四建集团"), ("第五建设集团有限公司", "五建集团"),
    ("路桥建设集团有限公司", "路桥集团"), ("城市发展集团有限公司", "城发集团"), ("产业投资集团有限公司", "产投集团"),
    ("农业发展集团有限公司", "农发集团"), ("医药集团有限公司", "医药集团"), ("商业集团有限公司", "商业集团"),
    ("物流集团有限公司", "物流集团"), ("港务集团有限公司", "港务集团"), ("机场集团有限公司", "机场集团"),
    ("电子信息产业集团有限公司", "电子集团"), ("机械工业集团有限公司", "机械集团"), ("纺织集团有限公司", "纺织集团"),
    ("食品集团有限公司", "食品集团"), ("建材集团有限公司", "建材集团"), ("化工集团有限公司", "化工集团"),
    ("汽车工业集团有限公司", "汽车集团"), ("金融控股集团有限公司", "金控集团"), ("广播电视传媒集团有限公司", "广电集团"),
    ("报业传媒集团有限公司", "报业集团"), ("环境卫生集团有限公司", "环卫集团"), ("园林绿化集团有限公司", "园林集团"),
    ("安居房地产开发集团有限公司", "安居集团"), ("供销合作集团有限公司", "供销集团"),
]
_BRANDS = ["华腾", "恒信", "远航", "天宇", "新湘", "金桥", "瑞丰", "宏达", "盛世", "博远", "中联", "同创", "鼎盛",
           "嘉禾", "长风", "联创", "启明", "东方", "银河", "星火", "润泽", "和顺", "永安", "立信", "众诚", "凯达",
           "华瑞", "泰和", "安泰", "宏图", "德润", "晨光", "兴业", "广源", "宇通", "精诚", "海纳", "正泰", "万隆",
           "青松", "明德", "九州", "云帆", "智远", "南方", "北辰", "三湘", "麓谷", "湘江", "岳麓"]
_INDUSTRIES = [("科技", "科技"), ("信息技术", "信息"), ("电子", "电子"), ("机械制造", "机械"), ("建设工程", "建工"),
               ("置业", "置业"), ("物流", "物流"), ("医药", "医药"), ("食品", "食品"), ("新材料", "新材"),
               ("环保科技", "环保"), ("生物技术", "生物"), ("软件", "软件"), ("智能装备", "智能"), ("汽车零部件", "汽配"),
               ("能源", "能源"), ("商贸", "商贸"), ("文化传媒", "传媒"), ("网络科技", "网络"), ("精密仪器", "仪器")]
_SUBSIDIARIES = [("置业有限公司", "置业公司"), ("物业管理有限公司", "物业公司"), ("设计研究院有限公司", "设计院"),
                 ("商贸有限公司", "商贸公司"), ("机械租赁有限公司", "租赁公司"), ("安装工程有限公司", "安装公司"),
                 ("装饰工程有限公司", "装饰公司"), ("检测有限公司", "检测公司"), ("投资有限公司", "投资公司"),
                 ("运营管理有限公司", "运营公司")]
# Government departments: (words, short).
_DEPARTMENTS = [
    ("发展和改革委员会", "市发改委"), ("教育局", "市教育局"), ("科学技术局", "市科技局"), ("工业和信息化局", "市工信局"),
    ("公安局", "市公安局"), ("民政局", "市民政局"), ("司法局", "市司法局"), ("财政局", "市财政局"),
    ("人力资源和社会保障局", "市人社局"), ("自然资源和规划局", "市自然资源规划局"), ("生态环境局", "市生态环境局"),
    ("住房和城乡建设局", "市住建局"), ("交通运输局", "市交通运输局"), ("水利局", "市水利局"), ("农业农村局", "市农业农村局"),
    ("商务局", "市商务局"), ("文化旅游广电局", "市文旅广电局"), ("卫生健康委员会", "市卫健委"),
    ("退役军人事务局", "市退役军人局"), ("应急管理局", "市应急局"), ("审计局", "市审计局"),
    ("市场监督管理局", "市市场监管局"), ("统计局", "市统计局"), ("医疗保障局", "市医保局"),
    ("城市管理和综合执法局", "市城管局"), ("林业局", "市林业局"), ("体育局", "市体育局"), ("信访局", "市信访局"),
    ("机关事务管理局", "市机关事务局"), ("政务服务中心", "市政务中心"), ("人民政府办公室", "市政府办"),
    ("数据资源管理局", "市数据局"), ("住房公积金管理中心", "市公积金中心"), ("档案馆", "市档案馆"),
    ("地方志编纂室", "市志办"), ("总工会", "市总工会"), ("妇女联合会", "市妇联"), ("科学技术协会", "市科协"),
]
_SCHOOLS = ["实验中学", "外国语学校", "实验小学", "雅礼中学", "育才中学", "特殊教育学校", "工业职业技术学校",
            "财经学校", "体育运动学校", "艺术学校"]
_PLACES = ["文昌", "桃园", "东风", "建设", "解放", "人民", "和平", "新华", "朝阳", "青年", "五一", "迎宾", "白沙",
           "金盆", "红旗", "光明", "团结", "胜利", "幸福", "长青", "荷花", "芙蓉", "湘江", "梅岭", "松柏", "翠竹",
           "丰收", "育才", "花园", "阳光", "东塘", "南岭", "西湖", "北门", "清水", "石桥", "龙塘", "黄花", "杨林",
           "枫林", "高桥", "沙坪", "金井", "双江", "柏加", "永和", "大瑶", "官桥", "新河", "洞井", "望月", "含浦",
           "坪塘", "雷锋", "月湖", "湘湖", "捞刀", "星沙", "榔梨", "黄兴", "暮云", "跳马", "同升", "东岸", "左家",
           "先锋", "新开", "青竹", "马坡", "茶山", "桂花", "兰亭", "泉塘", "泉水", "向阳", "联合", "新民", "三星",
           "万家", "田心"]
# Words before 第N支部 / 第N总支部, by family of the parent.
_DEPT_WORDS = {
    "root": ["机关"],
    "gov": ["机关", "机关", "离退休干部"],
    "dept": ["机关", "机关", "机关", "离退休干部", "直属单位"],
    "soe": ["机关", "机关", "项目部", "生产", "经营", "技术中心", "离退休"],
    "company": ["机关", "机关", "项目部", "生产", "经营", "技术中心", "离退休"],
    "hospital": ["机关", "内科", "外科", "门诊", "医技", "护理", "行政后勤", "离退休"],
    "school": ["机关", "教工", "教工", "学生", "离退休"],
    "edu": ["机关", "机关", "离退休干部"],
    "sasac": ["机关", "离退休干部"],
    "park": ["机关", "机关", "非公企业", "社会组织"],
    "district": ["机关", "机关", "离退休干部", "非公企业", "社会组织"],
    "street": ["机关", "机关", "离退休干部", "非公企业", "社会组织"],
    "town": ["机关", "机关", "离退休干部", "非公企业"],
    "community": ["", "", "在职党员", "离退休", "网格"],
    "village": ["", "", "", "农业合作社"],
}
_JOINT_WORDS = ["非公企业", "社会组织", "个体工商户", "商务楼宇", "物业企业"]
_JOINT_SHARE = {"park": 0.4, "district": 0.25, "street": 0.25, "town": 0.2, "community": 0.15, "village": 0.1}


class _Org:
    __slots__ = ("type", "family", "name", "short_name", "branch_prefix", "sub_prefix", "children",
                 "counters", "used_units", "id", "path", "depth", "code", "established", "parent",
                 "requires_approval")

    def __init__(self, type: str, family: str, name: str, short_name: str,
                 branch_prefix: str = "", sub_prefix: str = "") -> None:
        self.type = type
        self.family = family
        self.name = name
        self.short_name = short_name
        self.branch_prefix = branch_prefix
        self.sub_prefix = sub_prefix
        self.children: list[_Org] = []
        self.counters: dict[tuple[str, str], int] = {}
        self.used_units: int = 0
        self.parent: _Org | None = None
        self.requires_approval = False


def _unit_name(type: str, words: str) -> str:
    return f"中共{CITY}{words}{'工作委员会' if type == WORKING_COMMITTEE else '委员会'}"


class _Planner:
    """Lays out the tree: who is under whom, types, names. Ids, paths and codes come later."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()
        self.groups = list(_GROUPS)
        rng.shuffle(self.groups)
        self.group_index = 0
        self.company_names: set[str] = set()

    # -- names ----------------------------------------------------------------

    def _claim(self, name: str) -> bool:
        if name in self.names:
            return False
        self.names.add(name)
        return True

    def _ordinal_child(self, parent: _Org, key: tuple[str, str],
                       make: Callable[[str], tuple[str, str]]) -> tuple[str, str]:
        """The next unused (name, short) for `make(第N)` under parent, N counted per key."""
        n = parent.counters.get(key, 0)
        while True:
            n += 1
            name, short = make(cn_number(n))
            if self._claim(name):
                parent.counters[key] = n
                return name, short

    def _company(self) -> tuple[str, str] | None:
        rng = self.rng
        for _ in range(50):
            brand = rng.choice(_BRANDS)
            industry, industry_short = rng.choice(_INDUSTRIES)
            words = f"{brand}{industry}有限公司"
            if words not in self.company_names:
                self.company_names.add(words)
                return words, f"{brand}{industry_short}"
        return None

    def _group(self) -> tuple[str, str] | None:
        if self.group_index < len(self.groups):
            self.group_index += 1
            return self.groups[self.group_index - 1]
        company = self._company()
        if company is None:
            return None
        words, short = company
        return words.replace("有限公司", "集团有限公司"), short + "集团"

    # -- units ----------------------------------------------------------------

    def level1(self, count: int) -> list[_Org]:
        rng = self.rng
        specs = list(_FIRST_UNITS)
        rest = list(_MORE_UNITS)
        rest += [(COMMITTEE, d, d + "委", "district", d + "委", d) for d in _DISTRICTS]
        rest += [("group",)] * len(_GROUPS)
        rng.shuffle(rest)
        specs += rest
        units = []
        for i in range(count):
            spec = specs[i] if i < len(specs) else ("group",)
            if spec[0] == "group":
                group = self._group()
                if group is None:
                    break
                words, short = group
                base = words.replace("有限责任公司", "").replace("有限公司", "")
                spec = (COMMITTEE, words, short + "党委", "soe", words, base)
            type, words, short, family, branch_prefix, sub_prefix = spec
            name = _unit_name(type, words)
            if not self._claim(name):
                continue
            units.append(_Org(type, family, name, short, branch_prefix, sub_prefix))
        return units

    def sub_unit(self, parent: _Org) -> _Org | None:
        """A committee under `parent` (a level-1 or level-2 committee), or None if its kind has none."""
        rng = self.rng
        family = parent.family
        for _ in range(20):
            spec = None
            if family == "gov":
                if parent.used_units >= len(_DEPARTMENTS):
                    return None
                words, short = _DEPARTMENTS[parent.used_units]
                parent.used_units += 1
                spec = (COMMITTEE, f"{words}机关", f"{short}机关党委", "dept", words, words)
            elif family == "edu":
                n = parent.used_units
                parent.used_units += 1
                if n < len(_SCHOOLS):
                    words, short = _SCHOOLS[n], "市" + _SCHOOLS[n]
                else:
                    words, short = f"第{cn_number(n - len(_SCHOOLS) + 1)}中学", f"市{cn_number(n - len(_SCHOOLS) + 1)}中"
                spec = (COMMITTEE, words, short + "党委", "school", words, words)
            elif family == "park":
                company = self._company()
                if company is None:
                    return None
                words, short = company
                spec = (COMMITTEE, words, short + "党委", "company", words, words)
            elif family == "sasac":
                group = self._group()
                if group is None:
                    return None
                words, short = group
                base = words.replace("有限责任公司", "").replace("有限公司", "")
                spec = (COMMITTEE, words, short + "党委", "soe", words, base)
            elif family == "soe":
                n = parent.used_units
                parent.used_units += 1
                if n < len(_SUBSIDIARIES):
                    tail, short = _SUBSIDIARIES[n]
                else:
                    k = cn_number(n - len(_SUBSIDIARIES) + 1)
                    tail, short = f"第{k}工程有限公司", f"{k}公司"
                words = parent.sub_prefix + tail
                spec = (COMMITTEE, words, short + "党委", "company", words, words)
            elif family in ("district", "street", "town"):
                place = rng.choice(_PLACES)
                if family == "district":
                    if rng.random() < 0.7:
                        words = f"{parent.sub_prefix}{place}街道"
                        spec = (WORKING_COMMITTEE, words, f"{place}街道党工委", "street", words, words)
                    else:
                        words = f"{parent.sub_prefix}{place}镇"
                        spec = (COMMITTEE, words, f"{place}镇党委", "town", words, words)
                elif family == "street":
                    words = f"{parent.sub_prefix}{place}社区"
                    spec = (COMMITTEE, words, f"{place}社区党委", "community", words, words)
                else:
                    words = f"{parent.sub_prefix}{place}村"
                    spec = (COMMITTEE, words, f"{place}村党委", "village", words, words)
            else:
                return None
            type, words, short, child_family, branch_prefix, sub_prefix = spec
            name = _unit_name(type, words)
            if self._claim(name):
                return _Org(type, child_family, name, short, branch_prefix, sub_prefix)
        return None

    def general_branch(self, parent: _Org) -> _Org:
        word = self.rng.choice(_DEPT_WORDS.get(parent.family, ["机关"]))
        prefix = parent.branch_prefix

        def make(n: str) -> tuple[str, str]:
            stem = f"{prefix}{word}第{n}总支部"
            return f"中共{CITY}{stem}委员会", f"{word}第{n}党总支"

        name, short = self._ordinal_child(parent, (word, "gb"), make)
        stem = name[len(f"中共{CITY}"):-len("委员会")]
        org = _Org(GENERAL_BRANCH, parent.family, name, short, stem, stem)
        return org

    def branch(self, parent: _Org) -> _Org:
        rng = self.rng
        prefix = parent.branch_prefix
        if parent.type == GENERAL_BRANCH:
            joint = rng.random() < 0.03
            word = ""
        else:
            joint = rng.random() < _JOINT_SHARE.get(parent.family, 0.03)
            word = rng.choice(_JOINT_WORDS if joint else _DEPT_WORDS.get(parent.family, ["机关"]))
        kind = "联合支部" if joint else "支部"

        def make(n: str) -> tuple[str, str]:
            return f"中共{CITY}{prefix}{word}第{n}{kind}委员会", f"{word}第{n}{kind}"

        name, short = self._ordinal_child(parent, (word, kind), make)
        return _Org(JOINT_BRANCH if joint else BRANCH, parent.family, name, short)

    # -- shape ----------------------------------------------------------------

    def fill(self, node: _Org, budget: int, depth: int) -> None:
        """Give `node` (a committee) exactly `budget` descendants."""
        rng = self.rng
        rem = budget
        first = True
        while rem > 0:
            room = MAX_CHILDREN - len(node.children)
            child: _Org | None = None
            size = 1
            # Keep within 999 children (three code digits): big leftovers go to sub-units.
            crowded = room <= 3 or rem > room * 6
            if depth <= 2 and rem >= 30 and (crowded or rng.random() < 0.3 or (first and rem >= 150)):
                child = self.sub_unit(node)
                if child is not None:
                    hi = min(rem, max(30, min(160, rem // 2 if rem > 320 else rem)))
                    size = rng.randint(min(15, hi), hi)
            if child is None and rem >= 3 and (first or crowded or rng.random() < 0.45):
                child = self.general_branch(node)
                size = 1 + rng.randint(2, min(rem - 1, 9 if not crowded else max(9, rem // room)))
            if child is None:
                child = self.branch(node)
                size = 1
            first = False
            child.parent = node
            node.children.append(child)
            rem -= size
            if child.type == GENERAL_BRANCH:
                for _ in range(size - 1):
                    leaf = self.branch(child)
                    leaf.parent = child
                    child.children.append(leaf)
            elif child.type not in LEAVES:
                self.fill(child, size - 1, depth + 1)


def _split(rng: random.Random, total: int, parts: int, minimum: int) -> list[int]:
    """`total` split into `parts` random shares, each at least `minimum`."""
    weights = [rng.lognormvariate(0, 0.6) for _ in range(parts)]
    spare = total - minimum * parts
    scale = spare / sum(weights)
    shares = [minimum + int(w * scale) for w in weights]
    left = total - sum(shares)
    order = sorted(range(parts), key=lambda i: -(weights[i] * scale - int(weights[i] * scale)))
    for i in range(left):
        shares[order[i % parts]] += 1
    return shares


def _plan(rng: random.Random, orgs: int) -> list[_Org]:
    """The organizations in breadth-first order, ids 1..orgs, with path, depth and code set."""
    planner = _Planner(rng)
    root = _Org(COMMITTEE, "root", f"中共{CITY}委员会", f"{CITY[:-1]}市委", "市委", "")
    planner.names.add(root.name)
    rest = orgs - 1
    if rest > 0:
        count = max(1, min(rest // 3 if rest >= 6 else 1, round(0.6 * rest ** 0.5), 400))
        units = planner.level1(count)
        for unit, share in zip(units, _split(rng, rest - len(units), len(units), 1 if rest >= 2 * len(units) else 0)):
            unit.parent = root
            root.children.append(unit)
            planner.fill(unit, share, 1)
    ordered: list[_Org] = []
    queue = deque([root])
    root.path, root.depth, root.code = child_path(None, 1), 0, ROOT_CODE
    while queue:
        node = queue.popleft()
        node.id = len(ordered) + 1
        ordered.append(node)
        if node.parent is not None:
            node.path = child_path(node.parent.path, node.id)
            node.depth = node.parent.depth + 1
        for i, child in enumerate(node.children, 1):
            child.code = f"{node.code}{i:0{CODE_SUFFIX_DIGITS}d}"
            queue.append(child)
    assert len(ordered) == orgs, (len(ordered), orgs)
    return ordered


def _establish(rng: random.Random, ordered: list[_Org]) -> None:
    start, end = ESTABLISHED_FROM.toordinal(), ESTABLISHED_TO.toordinal()
    for org in ordered:
        if org.parent is None:
            org.established = start + rng.randint(0, 365)
        else:
            lo = org.parent.established
            org.established = lo + int((end - lo) * rng.random() ** 3)


# ------------------------------------------------------------------ member vocabulary

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊"
)
_MALE_CHARS = (
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林洋文博志建国峰成永海东亮新春晓光天正"
    "德庆红民兴良友义长富生胜力彬坤松柏振家荣泽瑞锋毅豪诚然晨昊轩睿哲铭"
)
_FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀英玲桂兰萍燕莉梅琳雪颖慧婷倩琴云莹洁佳欣怡悦月露凤妍琪嘉蕾爽薇菲丹蓉馨彤宁"
    "晶瑶雯娇梦雅茜璐淑惠珍婉璇蕊岚思晴媛荷"
)
# (region code, native place, weight)
_REGIONS = [
    ("430102", "湖南长沙", 12), ("430103", "湖南长沙", 12), ("430104", "湖南长沙", 12), ("430105", "湖南长沙", 12),
    ("430111", "湖南长沙", 12), ("430121", "湖南长沙", 8), ("430202", "湖南株洲", 5), ("430302", "湖南湘潭", 5),
    ("430405", "湖南衡阳", 4), ("430602", "湖南岳阳", 4), ("430702", "湖南常德", 3), ("431002", "湖南郴州", 2),
    ("440303", "广东深圳", 2), ("440304", "广东深圳", 2), ("110101", "北京", 1), ("310101", "上海", 1),
    ("320102", "江苏南京", 1), ("420102", "湖北武汉", 2), ("360102", "江西南昌", 1),
]
_OTHER_PLACES = ["湖南益阳", "湖南邵阳", "湖南娄底", "湖南永州", "湖南怀化", "湖南张家界", "湖南湘西", "湖北宜昌",
                 "江西萍乡", "广西桂林", "四川成都", "河南郑州", "山东济南", "浙江杭州", "重庆", "贵州遵义"]
_PHONE_PREFIXES = ["130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                   "155", "156", "157", "158", "159", "166", "173", "176", "177", "178", "180", "181", "182", "183",
                   "185", "186", "187", "188", "189", "191", "198", "199"]
_CATEGORIES = [("FULL", 89), ("PROBATIONARY", 6), ("CANDIDATE", 1.5), ("ACTIVIST", 2), ("APPLICANT", 1.5)]
_ETHNICITY_WEIGHTS = {"01": 920, "15": 20, "06": 15, "12": 8, "13": 6, "03": 6, "11": 5, "08": 4, "02": 3, "14": 3}
_EDUCATION_YOUNG = {"11": 1, "14": 9, "21": 35, "28": 1, "31": 20, "41": 5, "44": 2, "47": 2, "61": 11, "71": 10,
                    "81": 2, "90": 1}
_EDUCATION_OLD = {"14": 1, "21": 10, "28": 2, "31": 14, "41": 9, "44": 2, "47": 3, "61": 24, "71": 25, "81": 9,
                  "90": 1}
_JOBS_WORKING = {"10101": 10, "10102": 3, "10201": 4, "10202": 10, "10301": 7, "10302": 7, "10303": 3, "10401": 5,
                 "10402": 6, "10403": 3, "10501": 1, "10502": 1, "10103": 1, "10203": 2, "20101": 8, "20102": 1,
                 "20103": 3, "20104": 2, "60102": 1, "60103": 3, "60105": 2, "60106": 2, "60113": 2, "60114": 1}
_JOBS_YOUNG = {"10101": 3, "10201": 1, "10202": 3, "10301": 2, "10302": 3, "10402": 3, "40101": 3, "40103": 3,
               "40201": 8, "40203": 10, "40301": 2, "40303": 2, "60102": 2, "60106": 1, "60114": 1}
_JOBS_RETIRED = {"50102": 88, "50103": 2, "60113": 3, "20104": 5, "60101": 2}
_PROFESSIONAL_JOBS = {"10202", "10302", "10402", "10502"}
_TITLE_WEIGHTS = {"11": 5, "12": 15, "2": 40, "3": 35, "4": 5}


def _table(table: str, weights: dict[str, float], rest: float = 0.0) -> tuple[list[str], list[float]]:
    """Codes of `table` with cumulative weights; codes without a weight share `rest`."""
    known = [code for code, _label in codes.entries(table)]
    population = [c for c in known if c in weights]
    others = [c for c in known if c not in weights]
    w = [weights[c] for c in population]
    if rest and others:
        population += others
        w += [rest / len(others)] * len(others)
    return population, list(accumulate(w))


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February: the birthday counts from 1 March in common years
        return dt.date(day.year + years, 3, 1) if years > 0 else dt.date(day.year + years, 2, 28)


class _MemberMaker:
    def __init__(self, rng: random.Random, today: dt.date) -> None:
        self.rng = rng
        self.today = today
        self.now = dt.datetime.now(dt.timezone.utc)
        self.used: dict[int, int] = {}  # (birth, region, parity) → last sequence used
        self.surnames = list(_SURNAMES)
        self.surname_cum = list(accumulate(1.0 / (1 + i * 0.08) for i in range(len(_SURNAMES))))
        self.regions = [r[0] for r in _REGIONS]
        self.region_places = [r[1] for r in _REGIONS]
        self.region_cum = list(accumulate(r[2] for r in _REGIONS))
        self.cats = [c for c, _w in _CATEGORIES]
        self.cat_cum = list(accumulate(w for _c, w in _CATEGORIES))
        # Minorities other than the listed ones share 0.6 %.
        self.ethnicity = _table("ethnicity", _ETHNICITY_WEIGHTS, rest=sum(_ETHNICITY_WEIGHTS.values()) * 0.006)
        self.edu_young = _table("education", _EDUCATION_YOUNG)
        self.edu_old = _table("education", _EDUCATION_OLD)
        self.jobs_working = _table("job_position", _JOBS_WORKING)
        self.jobs_young = _table("job_position", _JOBS_YOUNG)
        self.jobs_retired = _table("job_position", _JOBS_RETIRED)
        self.titles = _table("technical_title", _TITLE_WEIGHTS)
        degrees = {code for code, _l in codes.entries("degree")}
        self.degree_of = {edu: d for edu, d in
                          {"11": "2", "12": "2", "14": "3", "15": "3", "21": "4"}.items() if d in degrees}
        self.no_title = "4" if codes.is_valid("technical_title", "4") else None

    def chunk(self, count: int, first_id: int, org_ids: list[int]) -> tuple[list[dict], list[dict]]:
        """`count` members with ids from first_id, the i-th placed in org_ids[i]; and their placements."""
        rng = self.rng
        rnd = rng.random
        randint = rng.randint
        choices = rng.choices
        fromordinal = dt.date.fromordinal
        today = self.today
        today_o = today.toordinal()
        birth_lo = BIRTH_FROM.toordinal()
        birth_hi = BIRTH_TO.toordinal()
        retire_o = _years_after(today, -60).toordinal()
        young_o = _years_after(today, -24).toordinal()
        old_o = dt.date(1960, 1, 1).toordinal()
        mode_full = dt.date(1975, 1, 1).toordinal()
        used = self.used
        make_id = idnumber.make
        now = self.now
        regions, region_places = self.regions, self.region_places
        male_chars, female_chars = _MALE_CHARS, _FEMALE_CHARS
        degree_of = self.degree_of
        titles, title_cum = self.titles
        no_title = self.no_title

        surnames = choices(self.surnames, cum_weights=self.surname_cum, k=count)
        cats = choices(self.cats, cum_weights=self.cat_cum, k=count)
        region_ix = choices(range(len(regions)), cum_weights=self.region_cum, k=count)
        eth_pop, eth_cum = self.ethnicity
        ethnicities = choices(eth_pop, cum_weights=eth_cum, k=count)
        edu_young = choices(self.edu_young[0], cum_weights=self.edu_young[1], k=count)
        edu_old = choices(self.edu_old[0], cum_weights=self.edu_old[1], k=count)
        jobs_working = choices(self.jobs_working[0], cum_weights=self.jobs_working[1], k=count)
        jobs_young = choices(self.jobs_young[0], cum_weights=self.jobs_young[1], k=count)
        jobs_retired = choices(self.jobs_retired[0], cum_weights=self.jobs_retired[1], k=count)
        title_draws = choices(titles, cum_weights=title_cum, k=count)
        phone_prefixes = choices(_PHONE_PREFIXES, k=count)

        members: list[dict] = []
        placements: list[dict] = []
        for i in range(count):
            member_id = first_id + i
            category = cats[i]
            applied = activist = candidate = joined = None
            if category == "FULL":
                d_act, d_cand, d_join = randint(30, 300), randint(365, 700), randint(60, 300)
                latest_applied = today_o - d_act - d_cand - d_join - 366
                hi = min(birth_hi, _years_after(fromordinal(latest_applied), -18).toordinal())
                birth = int(rng.triangular(birth_lo, hi, min(hi, mode_full)))
                birth_d = fromordinal(birth)
                b18 = _years_after(birth_d, 18).toordinal()
                applied = b18 + int((latest_applied - b18) * rnd() ** 2)
                activist = applied + d_act
                candidate = activist + d_cand
                joined = candidate + d_join
                confirmed_d = _years_after(fromordinal(joined), 1)
            else:
                if category == "PROBATIONARY":
                    joined = today_o - randint(0, 360)
                    candidate = joined - randint(60, 300)
                elif category == "CANDIDATE":
                    candidate = today_o - randint(0, 300)
                if candidate is not None:
                    activist = candidate - randint(365, 700)
                elif category == "ACTIVIST":
                    activist = today_o - randint(0, 700)
                if activist is not None:
                    applied = activist - randint(30, 300)
                else:
                    applied = today_o - randint(0, 400)
                hi = min(birth_hi, _years_after(fromordinal(applied), -18).toordinal())
                lo = max(birth_lo, hi - 40 * 365)
                birth = int(rng.triangular(lo, hi, max(lo, hi - 6 * 365)))
                birth_d = fromordinal(birth)
                confirmed_d = None
            male = rnd() < (0.72 if birth < old_o or category == "FULL" else 0.55)
            # A sequence not used yet for this region, birth date and gender (odd = male).
            r = region_ix[i]
            while True:
                key = (birth * 32 + r) * 2 + male
                last = used.get(key)
                seq = (randint(0, 30) * 2 + male) if last is None else last + 2 * randint(1, 4)
                if seq <= 999:
                    used[key] = seq
                    break
                birth -= 1  # this day is full: one day older keeps every later date valid
                birth_d = fromordinal(birth)
            id_number = make_id(regions[r], birth_d, seq)

            given = (male_chars if male else female_chars)
            if rnd() < 0.7:
                name = surnames[i] + given[int(rnd() * len(given))] + given[int(rnd() * len(given))]
            else:
                name = surnames[i] + given[int(rnd() * len(given))]
            x = rnd()
            native = region_places[r] if x < 0.85 else (None if x > 0.97 else _OTHER_PLACES[int(rnd() * len(_OTHER_PLACES))])
            education = edu_old[i] if birth < old_o else edu_young[i]
            if rnd() < 0.02:
                education = None
            degree = degree_of.get(education) if education is not None and rnd() < 0.9 else None
            if birth <= retire_o:
                job = jobs_retired[i]
            elif birth >= young_o and category != "FULL":
                job = jobs_young[i]
            else:
                job = jobs_working[i]
            if rnd() < 0.03:
                job = None
            if job in _PROFESSIONAL_JOBS:
                title = title_draws[i]
            else:
                title = no_title if rnd() < 0.2 else None
            phone = f"{phone_prefixes[i]}{int(rnd() * 100_000_000):08d}" if rnd() < 0.8 else None
            admitted = joined is not None
            status = "FLOWING_OUT" if admitted and rnd() < 0.02 else "ACTIVE"
            affiliation = "INFLOW" if rnd() < 0.05 else "DIRECT"
            joined_d = fromordinal(joined) if joined is not None else None
            applied_d = fromordinal(applied)
            members.append({
                "id": member_id,
                "organization_id": org_ids[i],
                "name": name,
                "id_number": id_number,
                "gender": "MALE" if male else "FEMALE",
                "birth_date": birth_d,
                "ethnicity_code": ethnicities[i],
                "native_place": native,
                "education_code": education,
                "degree_code": degree,
                "job_position_code": job,
                "technical_title_code": title,
                "phone": phone,
                "category": category,
                "affiliation": affiliation,
                "status": status,
                "applied_on": applied_d,
                "activist_on": fromordinal(activist) if activist is not None else None,
                "candidate_on": fromordinal(candidate) if candidate is not None else None,
                "joined_on": joined_d,
                "confirmed_on": confirmed_d,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            })
            placements.append({
                "id": member_id,
                "member_id": member_id,
                "organization_id": org_ids[i],
                "valid_from": joined_d or applied_d or dt.date(2020, 1, 1),
                "valid_to": None,
            })
        return members, placements


def _member_counts(rng: random.Random, ordered: list[_Org], members: int) -> list[int]:
    """How many members each organization holds: branches the bulk, some committees a few."""
    weights = []
    for org in ordered:
        if org.type in LEAVES:
            weights.append(rng.lognormvariate(0, 0.5))
        elif org.depth > 0 and rng.random() < 0.4:
            weights.append(0.15 * rng.random())
        else:
            weights.append(0.0)
    total = sum(weights)
    if members == 0 or total == 0:
        counts = [0] * len(ordered)
        if members:
            counts[0] = members
        return counts
    exact = [w * members / total for w in weights]
    counts = [int(e) for e in exact]
    left = members - sum(counts)
    order = sorted(range(len(ordered)), key=lambda i: counts[i] - exact[i])
    for i in order[:left]:
        counts[i] += 1
    return counts


def _org_ids(counts: list[int], ordered: list[_Org]) -> Iterator[int]:
    for org, n in zip(ordered, counts):
        for _ in range(n):
            yield org.id


async def _insert_chunks(conn: AsyncConnection, table, rows: list[dict], size: int) -> None:
    for start in range(0, len(rows), size):
        await conn.execute(insert(table), rows[start:start + size])


async def generate(engine: AsyncEngine, orgs: int, members: int, seed: int = 1, *,
                   today: dt.date | None = None) -> dict:
    """Fill an empty database (tables already created) with `orgs` organizations and `members` members.

    Returns {"organizations": n, "members": m, "root_id": id}. One transaction: all or nothing."""
    if orgs < 1:
        raise ValueError("orgs must be at least 1")
    if members < 0:
        raise ValueError("members must not be negative")
    rng = random.Random(seed)
    today = today or clock.today()
    now = dt.datetime.now(dt.timezone.utc)

    ordered = _plan(rng, orgs)
    _establish(rng, ordered)
    counts = _member_counts(rng, ordered, members)
    for org in ordered:
        if org.type == GENERAL_BRANCH and rng.random() < 0.05:
            org.requires_approval = True

    org_rows, period_rows, event_rows = [], [], []
    fromordinal = dt.date.fromordinal
    for org in ordered:
        established = fromordinal(org.established)
        org_rows.append({
            "id": org.id,
            "parent_id": org.parent.id if org.parent is not None else None,
            "path": org.path,
            "depth": org.depth,
            "code": org.code,
            "name": org.name,
            "short_name": org.short_name,
            "type": org.type,
            "status": "ACTIVE",
            "requires_approval": org.requires_approval,
            "established_on": established,
            "version": 1,
            "created_at": now,
        })
        period_rows.append({"id": org.id, "organization_id": org.id,
                            "parent_id": org.parent.id if org.parent is not None else None,
                            "valid_from": established, "valid_to": None})
        event_rows.append({"id": org.id, "organization_id": org.id, "kind": "CREATED", "date": established,
                           "after": org.name})

    maker = _MemberMaker(rng, today)
    placed = _org_ids(counts, ordered)
    async with engine.connect() as conn:
        await conn.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            if (await conn.execute(select(func.count()).select_from(models.Organization.__table__))).scalar():
                raise ValueError("the database already holds organizations: the demo needs an empty one")
            await _insert_chunks(conn, models.Organization.__table__, org_rows, ORG_CHUNK)
            await _insert_chunks(conn, models.OrganizationParentPeriod.__table__, period_rows, ORG_CHUNK)
            await _insert_chunks(conn, models.OrganizationEvent.__table__, event_rows, ORG_CHUNK)
            done = 0
            while done < members:
                n = min(MEMBER_CHUNK, members - done)
                org_ids = [next(placed) for _ in range(n)]
                member_rows, placement_rows = maker.chunk(n, done + 1, org_ids)
                await conn.execute(insert(models.Member.__table__), member_rows)
                await conn.execute(insert(models.MemberPlacement.__table__), placement_rows)
                done += n
                await asyncio.sleep(0)
            # Derived columns, set in bulk the way the services keep them row by row.
            await conn.execute(update(models.Member.__table__).values(completeness=completeness_percent()))
            # The dated history (category and status steps) from the members' columns.
            await history.backfill(conn)
            await conn.execute(history.refresh_last_fact())
            # Days kept before the load (python -m db snapshot build on the empty database): built
            # again from the loaded history (the bulk inserts pass by the flush hook).
            await history.rebuild_snapshots(conn)
            await history.rebuild_periods(conn)
            await recount(conn)
            if engine.dialect.name == "postgresql":
                for table in ("organization", "member", "member_placement", "organization_parent_period",
                              "organization_event"):
                    await conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"))
    await analyze(engine)
    return {"organizations": len(ordered), "members": members, "root_id": ordered[0].id}
