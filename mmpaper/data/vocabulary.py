"""The embedded world's vocabulary: categories with their silhouettes and complements, colours, patterns,
materials, and the three registers in which they are named.

* the **catalog** register (product titles): a seller's nouns ("t-shirt", "trousers");
* the **shopper** register (queries): synonyms, abbreviations and slang ("tee", "pants", "crimson");
* the **everyday** register (captions of the generic image corpus that pretrains the tiny CLIP): plain words for
  what a picture shows. It names colours, patterns and silhouettes, and each category by its everyday noun ("cable"
  for a charger, "mat" for a yoga mat) or, less often, by a catalog or shopper word; it never names brands or
  materials, which a picture cannot show.
"""
from __future__ import annotations

# name: (department, silhouette, catalog nouns, shopper words, everyday noun, complementary categories)
CATEGORIES: dict[str, tuple[str, tuple[str, float, float], list[str], list[str], str, list[str]]] = {
    "tshirt":      ("clothing", ("tee", 0.80, 0.80), ["t-shirt", "tshirt"], ["tee", "t shirt", "top"], "shirt", ["trousers", "shorts"]),
    "trousers":    ("clothing", ("legs", 0.50, 0.92), ["trousers"], ["pants", "slacks", "chinos"], "pants", ["tshirt", "belt"]),
    "shorts":      ("clothing", ("legs", 0.75, 0.50), ["shorts"], ["short pants", "shorts"], "shorts", ["tshirt", "sandals"]),
    "dress":       ("clothing", ("trapezoid", 0.70, 0.90), ["dress"], ["frock", "gown", "dress"], "dress", ["sandals", "handbag"]),
    "jacket":      ("clothing", ("cross", 0.85, 0.85), ["jacket"], ["coat", "parka", "jacket"], "jacket", ["scarf"]),
    "scarf":       ("clothing", ("rect", 0.90, 0.25), ["scarf"], ["muffler", "shawl", "scarf"], "scarf", ["jacket", "beanie"]),
    "beanie":      ("clothing", ("dome", 0.75, 0.80), ["beanie hat"], ["beanie", "winter hat", "toque"], "hat", ["scarf"]),
    "belt":        ("clothing", ("buckle", 0.95, 0.25), ["belt"], ["waist belt", "belt"], "belt", ["trousers"]),
    "sneakers":    ("footwear", ("shoe", 0.90, 0.45), ["sneakers"], ["trainers", "kicks", "running shoes"], "shoe", ["socks"]),
    "boots":       ("footwear", ("ell", 0.70, 0.90), ["boots"], ["boots", "booties"], "boot", ["socks"]),
    "sandals":     ("footwear", ("diamond", 0.90, 0.45), ["sandals"], ["flip flops", "sliders", "sandals"], "sandal", ["dress", "shorts"]),
    "socks":       ("footwear", ("ell", 0.45, 0.85), ["socks"], ["socks", "ankle socks"], "sock", ["sneakers", "boots"]),
    "mug":         ("kitchen", ("mug", 0.85, 0.75), ["mug"], ["coffee cup", "mug", "cuppa cup"], "cup", ["teapot"]),
    "teapot":      ("kitchen", ("teapot", 0.85, 0.75), ["teapot"], ["tea kettle", "teapot"], "teapot", ["mug"]),
    "plate":       ("kitchen", ("ellipse", 0.90, 0.90), ["dinner plate"], ["plate", "dish"], "plate", ["bowl"]),
    "bowl":        ("kitchen", ("halfdisc", 0.90, 0.85), ["bowl"], ["bowl", "soup bowl"], "bowl", ["plate"]),
    "phonecase":   ("electronics", ("holed", 0.50, 0.85), ["phone case"], ["cell cover", "phone cover", "case"], "phone", ["charger"]),
    "headphones":  ("electronics", ("arc", 0.90, 0.90), ["headphones"], ["earphones", "headset", "cans"], "headphones", ["charger"]),
    "charger":     ("electronics", ("plug", 0.60, 0.85), ["charger"], ["charging cable", "power adapter"], "cable", ["phonecase", "headphones"]),
    "pillow":      ("home", ("cushion", 0.90, 0.75), ["cushion"], ["pillow", "throw pillow"], "pillow", ["rug"]),
    "rug":         ("home", ("fringe", 0.95, 0.65), ["rug"], ["carpet", "mat", "area rug"], "rug", ["pillow"]),
    "lamp":        ("home", ("lamp", 0.80, 0.92), ["lamp"], ["light", "lamp", "lampshade"], "lamp", ["vase"]),
    "vase":        ("home", ("vase", 0.60, 0.92), ["vase"], ["flower pot", "vase"], "vase", ["lamp"]),
    "backpack":    ("sports", ("bag", 0.65, 0.90), ["backpack"], ["rucksack", "bookbag", "backpack"], "bag", ["bottle"]),
    "bottle":      ("sports", ("bottle", 0.35, 0.92), ["water bottle"], ["flask", "drink bottle", "bottle"], "bottle", ["backpack", "yogamat"]),
    "yogamat":     ("sports", ("roll", 0.95, 0.45), ["yoga mat"], ["exercise mat", "gym mat"], "mat", ["bottle"]),
    "handbag":     ("sports", ("bag", 0.85, 0.70), ["handbag"], ["purse", "tote", "handbag"], "bag", ["dress"]),
}

# name: (RGB, shopper synonyms, everyday words: the common synonyms, not the rarer shop ones)
COLOURS: dict[str, tuple[tuple[int, int, int], list[str], list[str]]] = {
    "red":    ((200, 30, 40), ["red", "crimson", "scarlet"], ["red", "crimson"]),
    "blue":   ((30, 60, 200), ["blue", "navy", "cobalt"], ["blue", "navy"]),
    "green":  ((40, 150, 60), ["green", "olive", "emerald"], ["green", "olive"]),
    "yellow": ((235, 200, 40), ["yellow", "mustard", "lemon"], ["yellow"]),
    "orange": ((240, 130, 30), ["orange", "tangerine"], ["orange"]),
    "purple": ((120, 50, 160), ["purple", "violet", "lilac"], ["purple", "violet"]),
    "pink":   ((240, 130, 180), ["pink", "rose", "blush"], ["pink", "rose"]),
    "black":  ((25, 25, 25), ["black", "jet black", "ebony"], ["black", "dark"]),
    "white":  ((245, 245, 240), ["white", "ivory", "cream"], ["white", "cream"]),
    "grey":   ((128, 128, 128), ["grey", "gray", "charcoal"], ["grey", "gray", "charcoal"]),
    "brown":  ((120, 75, 40), ["brown", "tan", "chocolate"], ["brown", "tan"]),
    "teal":   ((20, 140, 140), ["teal", "turquoise", "aqua"], ["teal", "turquoise"]),
}

# name: (catalog word, shopper synonyms, everyday words)
PATTERNS: dict[str, tuple[str, list[str], list[str]]] = {
    "plain":   ("solid", ["plain", "solid", "solid colour"], ["plain"]),
    "striped": ("striped", ["striped", "stripes", "stripy"], ["striped", "stripes"]),
    "dotted":  ("polka dot", ["dotted", "polka dot", "spotty"], ["dotted", "polka dot"]),
    "checked": ("checked", ["checked", "plaid", "checkered", "tartan"], ["checked", "plaid"]),
    "diagonal": ("diagonal stripe", ["diagonal", "slanted stripes"], ["diagonal"]),
}

MATERIALS: dict[str, list[str]] = {
    "cotton": ["cotton"], "wool": ["wool", "woolen"], "leather": ["leather", "faux leather"],
    "plastic": ["plastic"], "ceramic": ["ceramic", "porcelain"], "metal": ["metal", "steel"],
    "denim": ["denim", "jean"], "silk": ["silk", "satin"], "nylon": ["nylon"], "bamboo": ["bamboo", "wood"],
}

# the everyday words for a silhouette: some captions describe an object by its shape alone, as people do when they
# have no word for it
SILHOUETTE_WORDS = {"tee": "t shape", "rect": "rectangle", "trapezoid": "flared shape", "cross": "cross shape",
                    "ellipse": "oval", "diamond": "diamond", "ring": "ring", "triangle": "triangle",
                    "legs": "two legs", "ell": "l shape", "holed": "slab with a hole", "bag": "bag with a handle",
                    "mug": "cup with a handle", "teapot": "pot with a spout", "halfdisc": "half circle",
                    "dome": "dome", "arc": "arc", "lamp": "shade on a stand", "vase": "round pot",
                    "bottle": "bottle shape", "cushion": "soft square", "fringe": "mat with tassels",
                    "roll": "roll", "plug": "plug", "buckle": "strap with a buckle", "shoe": "shoe shape"}

SYLLABLES = ["ka", "lo", "mi", "ve", "tor", "zan", "pel", "qui", "bra", "nu", "sol", "rex", "vin", "dar", "ox",
             "lum", "fy", "gen", "ari", "tek"]
TITLE_EXTRAS = ["for men", "for women", "unisex", "new", "2 pack", "classic", "premium", "size m", "large",
                "slim", "kids", "xl", "deluxe", "lightweight", "gift"]

# what a product of each department is plausibly made of (a catalog has no porcelain trousers)
DEPARTMENT_MATERIALS: dict[str, list[str]] = {
    "clothing": ["cotton", "wool", "denim", "silk", "nylon", "leather"],
    "footwear": ["leather", "nylon", "cotton", "plastic", "wool"],
    "kitchen": ["ceramic", "metal", "plastic", "bamboo"],
    "electronics": ["plastic", "metal", "leather", "silk"],
    "home": ["cotton", "wool", "ceramic", "metal", "bamboo", "silk"],
    "sports": ["nylon", "plastic", "metal", "leather", "cotton"],
}

# how common each colour is in the catalog: dark and neutral colours dominate, as in most shops
COLOUR_SHARE: dict[str, float] = {"black": 0.2, "white": 0.13, "grey": 0.11, "blue": 0.11, "red": 0.07,
                                  "brown": 0.07, "green": 0.07, "pink": 0.06, "purple": 0.04, "yellow": 0.05,
                                  "orange": 0.04, "teal": 0.05}


# the codes of the world's attributes are positions in these lists
CATEGORY_NAMES = list(CATEGORIES)
COLOUR_NAMES = list(COLOURS)
PATTERN_NAMES = list(PATTERNS)
MATERIAL_NAMES = list(MATERIALS)
DEPARTMENTS = sorted({v[0] for v in CATEGORIES.values()})
