"""Jewelry vocabulary and pricing: metals, purity, categories, gemstones, tiers.

Money is handled in integer cents and weights in milligrams, so the generator never touches
Decimal in its hot loops and every figure is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

# Spot prices in cents per gram of the pure metal (a fixed snapshot, so data is reproducible).
SPOT_CENTS_PER_GRAM = {"gold": 8_400, "silver": 105, "platinum": 3_150}
# Karat -> purity in thousandths; silver and platinum carry their fineness instead.
GOLD_PURITY_PER_MILLE = {10: 417, 14: 585, 18: 750, 22: 916, 24: 999}
FINENESS_PER_MILLE = {"silver": 925, "platinum": 950}
# Making charge (labour) in cents per gram, a range per metal.
MAKING_CENTS_PER_GRAM = {"gold": (800, 2_500), "silver": (200, 600), "platinum": (1_500, 3_000)}

# (metal, karat or None, weight): gold dominates a jewelry shop's stock.
METAL_WEIGHTS = {"gold": 65, "silver": 25, "platinum": 10}
KARAT_WEIGHTS = {10: 10, 14: 30, 18: 30, 22: 20, 24: 10}
METAL_LABEL = {"gold": "Gold", "silver": "Sterling Silver", "platinum": "Platinum"}
METAL_CODE = {"gold": "G", "silver": "S", "platinum": "P"}


@dataclass(frozen=True)
class Category:
    name: str
    slug: str
    singular: str
    code: str
    weight: int  # share of the catalogue
    grams: tuple[int, int]  # weight range in milligrams


CATEGORIES = (
    Category("Rings", "rings", "Ring", "RNG", 24, (1_500, 9_000)),
    Category("Necklaces", "necklaces", "Necklace", "NCK", 14, (4_000, 40_000)),
    Category("Bracelets", "bracelets", "Bracelet", "BRC", 12, (5_000, 30_000)),
    Category("Earrings", "earrings", "Earrings", "EAR", 18, (1_000, 7_000)),
    Category("Pendants", "pendants", "Pendant", "PND", 12, (1_000, 8_000)),
    Category("Chains", "chains", "Chain", "CHN", 9, (3_000, 35_000)),
    Category("Bangles", "bangles", "Bangle", "BNG", 7, (8_000, 45_000)),
    Category("Anklets", "anklets", "Anklet", "ANK", 4, (2_000, 10_000)),
)

# Gemstone -> value range in cents for the stones of one piece; "" is a plain metal piece.
GEMSTONES = {
    "": (0, 0),
    "diamond": (15_000, 400_000),
    "sapphire": (8_000, 150_000),
    "ruby": (8_000, 180_000),
    "emerald": (9_000, 160_000),
    "pearl": (2_000, 40_000),
    "amethyst": (1_500, 20_000),
    "topaz": (1_500, 18_000),
    "garnet": (1_200, 15_000),
    "opal": (3_000, 50_000),
    "aquamarine": (3_000, 60_000),
    "citrine": (1_200, 15_000),
    "tanzanite": (10_000, 120_000),
}
GEMSTONE_WEIGHTS = {
    "": 45,
    "diamond": 18,
    "sapphire": 6,
    "ruby": 5,
    "emerald": 4,
    "pearl": 6,
    "amethyst": 4,
    "topaz": 3,
    "garnet": 3,
    "opal": 2,
    "aquamarine": 2,
    "citrine": 1,
    "tanzanite": 1,
}
STYLES = (
    "Classic", "Vintage", "Modern", "Solitaire", "Halo", "Twisted", "Braided", "Filigree",
    "Minimalist", "Art Deco", "Eternity", "Cluster", "Floral", "Heritage", "Royal", "Celestial",
    "Infinity", "Hammered", "Polished", "Engraved", "Bridal", "Signet", "Cuban", "Rope",
)  # fmt: skip

# Same thresholds and discounts as the app's test factories (tests/app/factories.py).
TIERS = (
    ("Bronze", 0, "0.00"),
    ("Silver", 500, "2.50"),
    ("Gold", 2000, "5.00"),
    ("Platinum", 5000, "10.00"),
)
# Loyalty: one point per 10 currency units, floored (settings.LOYALTY_POINTS_PER_CURRENCY_UNIT).
CENTS_PER_POINT = 1_000
SIGNUP_BONUS_POINTS = 50


def purity_per_mille(metal: str, karat: int | None) -> int:
    return GOLD_PURITY_PER_MILLE[karat] if metal == "gold" and karat else FINENESS_PER_MILLE[metal]


def metal_value_cents(metal: str, karat: int | None, milligrams: int) -> int:
    """Spot price x purity x weight, in cents."""
    return SPOT_CENTS_PER_GRAM[metal] * purity_per_mille(metal, karat) * milligrams // 1_000_000


def tier_for(points: int) -> int:
    """Index into TIERS of the highest tier whose threshold `points` reaches (as the app does)."""
    index = 0
    for position, (_name, min_points, _discount) in enumerate(TIERS):
        if points >= min_points:
            index = position
    return index


def points_for(total_cents: int) -> int:
    return total_cents // CENTS_PER_POINT
