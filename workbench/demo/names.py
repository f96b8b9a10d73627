"""Chinese name material: surname frequencies, given-name characters, traditional variants."""
from __future__ import annotations

import numpy as np

# (surname, share in percent) — roughly the 2020 census order of the commonest surnames
SURNAMES = [
    ("王", 7.12), ("李", 7.00), ("张", 6.74), ("刘", 5.10), ("陈", 4.61), ("杨", 3.22), ("黄", 2.45),
    ("赵", 2.19), ("吴", 2.05), ("周", 1.94), ("徐", 1.49), ("孙", 1.48), ("马", 1.29), ("朱", 1.27),
    ("胡", 1.13), ("郭", 1.11), ("何", 1.07), ("高", 1.02), ("林", 0.97), ("罗", 0.96), ("郑", 0.83),
    ("梁", 0.82), ("谢", 0.72), ("宋", 0.70), ("唐", 0.70), ("许", 0.63), ("韩", 0.62), ("冯", 0.60),
    ("邓", 0.58), ("曹", 0.56), ("彭", 0.55), ("曾", 0.53), ("肖", 0.52), ("田", 0.51), ("董", 0.50),
    ("袁", 0.48), ("潘", 0.48), ("于", 0.47), ("蒋", 0.46), ("蔡", 0.45), ("余", 0.44), ("杜", 0.43),
    ("叶", 0.43), ("程", 0.42), ("苏", 0.40), ("魏", 0.40), ("吕", 0.39), ("丁", 0.38), ("任", 0.37),
    ("沈", 0.36), ("姚", 0.35), ("卢", 0.34), ("姜", 0.33), ("崔", 0.32), ("钟", 0.31), ("谭", 0.30),
    ("陆", 0.30), ("汪", 0.29), ("范", 0.29), ("金", 0.28), ("石", 0.28), ("廖", 0.27), ("贾", 0.27),
    ("夏", 0.26), ("韦", 0.25), ("付", 0.25), ("方", 0.24), ("白", 0.24), ("邹", 0.23), ("孟", 0.23),
    ("熊", 0.22), ("秦", 0.22), ("邱", 0.21), ("江", 0.21), ("尹", 0.20), ("薛", 0.20), ("闫", 0.19),
    ("段", 0.19), ("雷", 0.19), ("侯", 0.18), ("龙", 0.18), ("史", 0.17), ("陶", 0.16), ("黎", 0.16),
    ("贺", 0.16), ("顾", 0.15), ("毛", 0.15), ("郝", 0.15), ("龚", 0.14), ("邵", 0.14), ("万", 0.14),
    ("钱", 0.13), ("严", 0.13), ("覃", 0.12), ("武", 0.12), ("戴", 0.12), ("莫", 0.11), ("孔", 0.11),
    ("向", 0.11), ("汤", 0.10), ("欧阳", 0.03), ("司马", 0.006), ("诸葛", 0.005), ("上官", 0.005),
]

BOY_CHARS = ("浩宇轩子梓睿泽俊杰博文晨辰一昊然航铭嘉阳涛鑫磊鹏天佑奕翔宸皓煜明伟志强军华国东龙"
             "凯恒宏锦毅钧朗烨骏豪瑞彬诚哲峰晟霖淼楷逸思远")
GIRL_CHARS = ("欣怡梓涵雨萱诗琪佳思语可馨若晴悦雅婷静妍彤瑶璐丽芳红敏慧颖雪月玥婉清沐汐依伊菲"
              "蕊宁安心嘉子一梦媛晓紫艺娜琳桐然钰洁凌薇珊")

TRADITIONAL = {
    "张": "張", "刘": "劉", "陈": "陳", "杨": "楊", "黄": "黃", "赵": "趙", "吴": "吳", "孙": "孫",
    "马": "馬", "郑": "鄭", "谢": "謝", "许": "許", "韩": "韓", "冯": "馮", "邓": "鄧", "罗": "羅",
    "叶": "葉", "苏": "蘇", "吕": "呂", "卢": "盧", "钟": "鍾", "谭": "譚", "陆": "陸", "贾": "賈",
    "邹": "鄒", "龙": "龍", "顾": "顧", "钱": "錢", "严": "嚴", "汤": "湯", "伟": "偉", "华": "華",
    "军": "軍", "国": "國", "东": "東", "杰": "傑", "红": "紅", "涛": "濤", "鹏": "鵬", "诗": "詩",
    "语": "語", "晓": "曉", "丽": "麗", "颖": "穎", "轩": "軒", "泽": "澤", "铭": "銘", "阳": "陽",
    "梦": "夢", "艺": "藝", "钰": "鈺", "洁": "潔", "凯": "凱", "锦": "錦", "钧": "鈞", "烨": "燁",
    "骏": "駿", "诚": "誠", "瑶": "瑤", "静": "靜", "凌": "淩", "宁": "寧", "远": "遠",
}

# administrative division codes used for the first six ID digits; most students are local
AREA_CODES = [
    ("110108", 30), ("110105", 14), ("110102", 8), ("110101", 5), ("110106", 7), ("110107", 3),
    ("110114", 6), ("110112", 5), ("110115", 5), ("110113", 3), ("130102", 2), ("130602", 1.5),
    ("370102", 1.5), ("410105", 2), ("420106", 1.5), ("510104", 1.5), ("320106", 1.5), ("230103", 1),
    ("140105", 1), ("610113", 1),
]

PHONE_PREFIXES = ([f"13{d}" for d in range(10)] + ["150", "151", "152", "153", "155", "156", "157",
                  "158", "159"] + [f"18{d}" for d in range(10)] + ["191", "193", "195", "196", "197",
                                                                   "198", "199"])

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = np.array(list("10X98765432"))


def id_check_digit(first17: np.ndarray) -> np.ndarray:
    """GB 11643 check characters for an array of 17-digit strings."""
    digits = np.frombuffer(np.asarray(first17).astype("S17").tobytes(), dtype=np.uint8)
    digits = digits.reshape(-1, 17).astype(np.int64) - 48
    return ID_CHECK[(digits @ ID_WEIGHTS) % 11]


def _char_weights(chars: str) -> np.ndarray:
    w = 1.0 / (np.arange(len(chars)) + 8.0)  # mild Zipf: popular characters first
    return w / w.sum()


def random_given(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    """Given names of 1 (about 22%) or 2 characters, drawn from gender-typical characters."""
    n = len(male)
    boys = np.array(list(BOY_CHARS))
    girls = np.array(list(GIRL_CHARS))
    first = np.where(male, rng.choice(boys, n, p=_char_weights(BOY_CHARS)),
                     rng.choice(girls, n, p=_char_weights(GIRL_CHARS)))
    second = np.where(male, rng.choice(boys, n, p=_char_weights(BOY_CHARS)),
                      rng.choice(girls, n, p=_char_weights(GIRL_CHARS)))
    # characters that sound odd in second position (子, 一 and 梓 lead names: 子轩, 一诺, 梓涵)
    odd = (second == first) | np.isin(second, ["子", "一", "梓"])
    second = np.where(odd, np.where(male, rng.choice(list("然轩涵睿杰航博"), n), rng.choice(list("欣涵萱怡琪彤妍"), n)),
                      second)
    second = np.where(second == first, np.where(male, "然", "欣"), second)
    two = rng.random(n) < 0.78
    single = np.where(np.isin(first, ["子", "一"]), second, first)
    return np.where(two, np.strings.add(first, second), single)


def random_surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    names = np.array([s for s, _ in SURNAMES])
    p = np.array([w for _, w in SURNAMES])
    return rng.choice(names, n, p=p / p.sum())


def name_variant(rng: np.random.Generator, surname: str, given: str) -> tuple[str, str]:
    """One realistic corruption of a name as typed into another system: (variant, kind)."""
    kinds = ["space", "fullwidth_space"]
    trad = [i for i, ch in enumerate(surname + given) if ch in TRADITIONAL]
    if trad:
        kinds += ["traditional", "traditional"]
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "space":
        return surname + " " + given, kind
    if kind == "fullwidth_space":
        return surname + "\u3000" + given, kind
    full = list(surname + given)
    i = trad[int(rng.integers(len(trad)))]
    full[i] = TRADITIONAL[full[i]]
    return "".join(full), kind
