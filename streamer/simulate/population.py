"""Synthetic people and contact points: customers, relatives, lawyers, agencies.

Everything here is fabricated, and every identifier is drawn through one
``Population`` so that uniqueness is *guaranteed*: a phone shared by two
complainants in the output is shared because a generator chose to share it
(agency, couple, lawyer), never by accident. Detectors keyed on contact reuse
can then be scored against truth without noise from collisions.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Customer", "Population", "Registry", "person_name", "REGIONS", "SURNAMES", "HOSPITALS"]

#: (region code, province, city, districts) -- a spread of large and mid-size cities.
REGIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("110000", "北京市", "北京市", ("朝阳区", "海淀区", "丰台区", "通州区", "昌平区")),
    ("310000", "上海市", "上海市", ("浦东新区", "闵行区", "宝山区", "徐汇区", "松江区")),
    ("440100", "广东省", "广州市", ("天河区", "白云区", "番禺区", "海珠区")),
    ("440300", "广东省", "深圳市", ("南山区", "宝安区", "龙岗区", "福田区")),
    ("430100", "湖南省", "长沙市", ("岳麓区", "雨花区", "开福区", "芙蓉区")),
    ("330100", "浙江省", "杭州市", ("西湖区", "余杭区", "萧山区", "拱墅区")),
    ("510100", "四川省", "成都市", ("武侯区", "锦江区", "成华区", "郫都区")),
    ("420100", "湖北省", "武汉市", ("洪山区", "江汉区", "武昌区", "江夏区")),
    ("320100", "江苏省", "南京市", ("鼓楼区", "江宁区", "秦淮区", "栖霞区")),
    ("370100", "山东省", "济南市", ("历下区", "市中区", "槐荫区")),
    ("610100", "陕西省", "西安市", ("雁塔区", "未央区", "碑林区")),
    ("500000", "重庆市", "重庆市", ("渝北区", "江北区", "沙坪坝区", "九龙坡区")),
    ("410100", "河南省", "郑州市", ("金水区", "二七区", "中原区")),
    ("350200", "福建省", "厦门市", ("思明区", "湖里区", "集美区")),
    ("130100", "河北省", "石家庄市", ("长安区", "桥西区", "裕华区")),
    ("450100", "广西壮族自治区", "南宁市", ("青秀区", "西乡塘区", "兴宁区")),
    ("360100", "江西省", "南昌市", ("东湖区", "红谷滩区", "青山湖区")),
    ("230100", "黑龙江省", "哈尔滨市", ("南岗区", "道里区", "香坊区")),
)
_REGION_WEIGHTS = (6, 6, 5, 5, 4, 4, 4, 4, 4, 3, 3, 4, 4, 2, 2, 2, 2, 2)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建文斌宇浩凯俊帆鑫琳晨雪婷颖欣怡嘉豪博阳子轩梓涵思雨佳宁志国海波春梅晓东红霞金凤德福庆丰"
_ROADS = ("人民路", "解放路", "建设路", "中山路", "新华路", "长江路", "和平街", "幸福路", "文化路", "滨江大道",
          "光明街", "青年路", "工业大道", "学府路", "东风路", "朝阳街", "胜利路", "育才路", "花园路", "湘江路")
_ESTATES = ("小区", "花园", "家园", "公寓", "新村", "苑", "城")
_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com", "outlook.com")
_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                    "156", "157", "158", "159", "176", "177", "180", "181", "182", "183", "185", "186", "187",
                    "188", "189", "191", "193", "195", "198", "199")
#: Virtual-operator ranges agencies favour for throw-away numbers.
AGENCY_PREFIXES = ("162", "165", "167", "170", "171", "172", "173")

HOSPITALS = ("某市第一人民医院", "某县中医院", "某区人民医院", "某市第三人民医院", "某医科大学附属医院",
             "某县妇幼保健院", "某市精神卫生中心", "某镇卫生院")


@dataclass(slots=True)
class Customer:
    """One retail customer. ``n_complaints`` lets the organic flow cap repeats."""

    cid: str
    name: str
    age: int
    region: str
    city: str
    phone: str
    email: str | None = None
    address: str | None = None
    n_complaints: int = 0

    def complainant(self, rng: random.Random) -> dict:
        """The ``complainant`` object; upstream systems sometimes omit age/region."""
        doc: dict = {"id": self.cid}
        if rng.random() < 0.93:
            doc["age"] = self.age
        if rng.random() < 0.9:
            doc["region"] = self.region
        return doc


def person_name(rng: random.Random) -> str:
    """A plausible full Chinese name (surname + one or two given characters)."""
    given = "".join(rng.choice(_GIVEN) for _ in range(1 if rng.random() < 0.35 else 2))
    return rng.choice(SURNAMES) + given


@dataclass(slots=True)
class Registry:
    """Identifiers already handed out, shared by every generator of a run."""

    ids: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)


class Population:
    """Factory of unique customers, names, phones, e-mails and addresses.

    Each generator gets its own ``Population`` (own random stream) over the
    run's shared ``Registry``, so uniqueness is global but streams independent.
    """

    def __init__(self, rng: random.Random, registry: Registry | None = None) -> None:
        self.rng = rng
        reg = registry or Registry()
        self._ids = reg.ids
        self._phones = reg.phones
        self._emails = reg.emails
        self._addresses = reg.addresses

    # -- primitives -------------------------------------------------------
    def name(self) -> str:
        return person_name(self.rng)

    def masked_name(self, suffix: str = "某") -> str:
        """Agency representatives sign as ``刘某`` / ``陈经理``-style names."""
        return self.rng.choice(SURNAMES) + suffix

    def phone(self, prefixes: tuple[str, ...] = _MOBILE_PREFIXES) -> str:
        r = self.rng
        while True:
            p = r.choice(prefixes) + f"{r.randrange(10**8):08d}"
            if p not in self._phones:
                self._phones.add(p)
                return p

    def agency_phone(self) -> str:
        return self.phone(AGENCY_PREFIXES)

    def region(self) -> tuple[str, str, str, tuple[str, ...]]:
        return self.rng.choices(REGIONS, weights=_REGION_WEIGHTS)[0]

    def address(self, region: tuple[str, str, str, tuple[str, ...]] | None = None) -> str:
        r = self.rng
        code, prov, city, districts = region or self.region()
        head = city if prov == city else prov + city
        while True:
            a = (f"{head}{r.choice(districts)}{r.choice(_ROADS)}{r.randrange(1, 300)}号"
                 f"{r.choice(SURNAMES)}{r.choice(_GIVEN)}{r.choice(_ESTATES)}{r.randrange(1, 30)}栋"
                 f"{r.randrange(1, 33)}{r.randrange(1, 5):02d}室")
            if a not in self._addresses:
                self._addresses.add(a)
                return a

    def office_address(self, region: tuple[str, str, str, tuple[str, ...]] | None = None) -> str:
        """A commercial address (agencies, law firms)."""
        r = self.rng
        code, prov, city, districts = region or self.region()
        head = city if prov == city else prov + city
        a = f"{head}{r.choice(districts)}{r.choice(_ROADS)}{r.randrange(1, 500)}号{r.choice('ABCDE')}座{r.randrange(3, 30)}{r.randrange(1, 20):02d}室"
        self._addresses.add(a)
        return a

    def email(self) -> str:
        r = self.rng
        while True:
            local = (f"{r.randrange(10**5, 10**10)}" if r.random() < 0.5
                     else "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randrange(4, 9))) + str(r.randrange(100, 9999)))
            e = f"{local}@{r.choice(_EMAIL_DOMAINS)}"
            if e not in self._emails:
                self._emails.add(e)
                return e

    def customer_id(self) -> str:
        while True:
            c = f"C-{self.rng.randrange(10**7, 10**8):08d}"
            if c not in self._ids:
                self._ids.add(c)
                return c

    # -- people -----------------------------------------------------------
    def customer(self, age_range: tuple[int, int] | None = None) -> Customer:
        """A customer with an own mobile; ages follow a retail-credit mix unless given."""
        r = self.rng
        if age_range is None:
            age = int(min(82, max(19, r.gauss(39, 11))))
        else:
            age = r.randint(*age_range)
        reg = self.region()
        return Customer(
            cid=self.customer_id(), name=self.name(), age=age, region=reg[0], city=reg[2],
            phone=self.phone(),
            email=self.email() if r.random() < 0.25 else None,
            address=self.address(reg) if r.random() < 0.3 else None,
        )
