"""Realistic synthetic residents and employers: names, GB 11643 IDs, phones, GB 32100 codes,
bank card numbers (Luhn), Tianjin landlines and social security card numbers."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from stdnum import luhn

from tierhub.checkdigits import id_check_character, uscc_check_character

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡"
    "贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕宁建国志刚海峰春梅淑珍凤兰鑫浩宇欣怡子轩梓涵"
)
MINORITY = (  # (given name, ethnicity name): names with a middle dot
    ("阿依古丽·买买提", "维吾尔族"),
    ("买买提·艾力", "维吾尔族"),
    ("古丽娜尔·吐尔逊", "维吾尔族"),
    ("努尔兰·哈斯木", "哈萨克族"),
    ("扎西·次仁", "藏族"),
)
ETHNICITIES = ("汉族",) * 20 + ("汉", "01", "回族", "满族", "蒙古族", "朝鲜族")
EDUCATION = ("本科", "大专", "高中", "初中", "小学", "中专", "技校", "20", "60", "研究生")
BANKS = ("中国工商银行", "中国建设银行", "中国农业银行", "中国银行", "天津银行", "交通银行")
# Historical county codes still printed on older residents' IDs (see DOMAIN).
RURAL_HISTORIC = {
    "120117": "120221",  # 宁河
    "120114": "120222",  # 武清
    "120118": "120223",  # 静海
    "120115": "120224",  # 宝坻
    "120119": "120225",  # 蓟县
}
BINHAI_HISTORIC = ("120107", "120108", "120109")  # 塘沽, 汉沽, 大港
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Issuer prefixes of debit cards banks attach to social security cards (6 digits).
CARD_BINS = ("622202", "621700", "622848", "621661", "622262", "621068")


@dataclass(frozen=True, slots=True)
class Person:
    """A synthetic resident whose ID, sex and birth date agree."""

    name: str
    id_number: str
    sex: str  # "1" male, "2" female
    birth_date: dt.date
    ethnicity: str
    mobile: str


ALL_HISTORIC = (*BINHAI_HISTORIC, *sorted(RURAL_HISTORIC.values()))


def address_code(rng: random.Random, district6: str, birth: dt.date) -> str:
    """The 6-digit address code printed on an ID: often a former county for older residents.

    Most carry their own district's former code; some were born elsewhere in Tianjin and
    moved (an ID keeps its birthplace code for life).
    """
    if birth.year < 1985 and rng.random() < 0.5:
        if district6 in RURAL_HISTORIC:
            return RURAL_HISTORIC[district6]
        if district6 == "120116":
            return rng.choice(BINHAI_HISTORIC)
    if birth.year < 2000 and rng.random() < 0.06:
        return rng.choice(ALL_HISTORIC)
    return district6


def make_id(rng: random.Random, district6: str, birth: dt.date, sex: str, used: set[str]) -> str:
    """A GB 11643 ID number with a valid check character, unique within ``used``."""
    while True:
        seq = rng.randrange(0, 500) * 2 + (1 if sex == "1" else 0)
        first17 = f"{address_code(rng, district6, birth)}{birth:%Y%m%d}{seq:03d}"
        number = first17 + id_check_character(first17)
        if number not in used:
            used.add(number)
            return number


def make_person(
    rng: random.Random, district6: str, min_age: int, max_age: int, today: dt.date, used: set[str]
) -> Person:
    """A resident aged ``min_age``–``max_age`` registered in ``district6``."""
    sex = rng.choice("12")
    birth = today - dt.timedelta(days=rng.randint(min_age * 365 + 10, max_age * 365 - 10))
    if rng.random() < 0.02:
        given, ethnicity = rng.choice(MINORITY)
        name = given
    else:
        name = random_name(rng)
        ethnicity = rng.choice(ETHNICITIES)
    return Person(
        name=name,
        id_number=make_id(rng, district6, birth, sex, used),
        sex=sex,
        birth_date=birth,
        ethnicity=ethnicity,
        mobile="1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9)),
    )


def make_uscc(rng: random.Random, district6: str) -> str:
    """A GB 32100 unified social credit code; some letter-led (village collectives N2…)."""
    head = rng.choice(("91", "91", "91", "92", "12", "52", "N2"))
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    org9 = body + rng.choice("0123456789X")
    first17 = f"{head}{district6}{org9}"
    return first17 + uscc_check_character(first17)


def corrupt_check(rng: random.Random, number: str, alphabet: str) -> str:
    """The same number with a different, wrong check character."""
    return number[:-1] + rng.choice([c for c in alphabet if c != number[-1]])


def random_name(rng: random.Random) -> str:
    """A Han Chinese name."""
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def make_bank_account(rng: random.Random) -> str:
    """A 16- or 19-digit debit card number with a valid Luhn check digit."""
    length = rng.choice((19, 19, 16))
    body = rng.choice(CARD_BINS) + "".join(rng.choice("0123456789") for _ in range(length - 7))
    return body + luhn.calc_check_digit(body)


def make_landline(rng: random.Random) -> str:
    """A Tianjin landline as people write it: 022-2345 6789, (022)23456789, 23456789 …"""
    number = rng.choice("2345678") + "".join(rng.choice("0123456789") for _ in range(7))
    style = rng.randrange(4)
    if style == 0:
        return f"022-{number}"
    if style == 1:
        return f"(022){number}"
    if style == 2:
        return f"022 {number[:4]} {number[4:]}"
    return number


def make_contact_phone(rng: random.Random, mobile: str) -> str:
    """A contact number (联系电话) as residents give it: mostly the mobile, some the house landline,
    a few with an extension (022-2345 6789转12, +86 22 2345 6789, 23456789-3)."""
    if rng.random() < 0.7:
        return rng.choice(("", "", "", "+86 ", "86-")) + mobile
    landline = make_landline(rng)
    if rng.random() < 0.2:
        digits = "".join(c for c in landline if c.isdigit())[-8:]
        landline = f"+86 22 {digits[:4]} {digits[4:]}"
    if rng.random() < 0.2:
        landline += rng.choice(("转", "-", " ext ", "分机")) + str(rng.randint(1, 999))
    return landline


def make_card_number(rng: random.Random) -> str:
    """A social security card number: a letter or digit, then 8 digits (inferred form)."""
    return rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") + "".join(rng.choice("0123456789") for _ in range(8))
