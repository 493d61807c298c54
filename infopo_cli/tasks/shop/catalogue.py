"""A generated product catalogue: every item is made up from fixed vocabularies and a seed.

Items have a type (in a category), a brand, a material, one or two features, the colours and sizes
they are sold in (chosen at purchase, like options on a shop page) and a price. The vocabularies
are small on purpose: many items share words, so finding the right one takes search and checking,
not one lucky keyword. They are data (``catalogue.json``), read once at import.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class ProductType:
    name: str
    category: str
    materials: tuple[str, ...]
    features: tuple[str, ...]
    sizes: tuple[str, ...]
    price: tuple[float, float]  # typical price range in dollars


VOCABULARY_FILE = Path(__file__).with_name("catalogue.json")


def load_vocabulary() -> tuple[tuple[ProductType, ...], tuple[str, ...], tuple[str, ...]]:
    """The product types, brands and colours, in file order. They are data (``catalogue.json``,
    where a type names its size list: clothing, shoes or home), not code."""
    raw = json.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))
    sizes = {name: tuple(values) for name, values in raw["sizes"].items()}
    types = tuple(
        ProductType(
            t["name"],
            t["category"],
            tuple(t["materials"]),
            tuple(t["features"]),
            sizes[t["sizes"]],
            tuple(t["price"]),
        )
        for t in raw["types"]
    )
    return types, tuple(raw["brands"]), tuple(raw["colors"])


TYPES, BRANDS, COLORS = load_vocabulary()  # read once, at import
TYPE_BY_NAME = {t.name: t for t in TYPES}


@dataclass(frozen=True)
class Item:
    """One product. ``attributes`` are the fixed properties an instruction can ask for."""

    id: str
    type: str
    category: str
    brand: str
    material: str
    features: tuple[str, ...]
    colors: tuple[str, ...]
    sizes: tuple[str, ...]
    price: float

    @property
    def title(self) -> str:
        return f"{self.brand.title()} {self.material} {self.type}, {' and '.join(self.features)}"

    def attributes(self) -> set[tuple[str, str]]:
        return {("brand", self.brand), ("material", self.material)} | {
            ("feature", f) for f in self.features
        }


def _item(rng: random.Random, index: int) -> Item:
    kind = rng.choice(TYPES)
    brand = rng.choice(BRANDS)
    brand_factor = 0.8 + 0.05 * BRANDS.index(brand)  # some brands are dearer than others
    low, high = kind.price
    price = round(min(high * 1.3, rng.uniform(low, high) * brand_factor), 2)
    sizes = sorted(rng.sample(range(len(kind.sizes)), rng.randint(2, min(4, len(kind.sizes)))))
    return Item(
        id=f"P{index:05d}",
        type=kind.name,
        category=kind.category,
        brand=brand,
        material=rng.choice(kind.materials),
        features=tuple(sorted(rng.sample(kind.features, rng.randint(1, 2)))),
        colors=tuple(sorted(rng.sample(COLORS, rng.randint(2, 4)), key=COLORS.index)),
        sizes=tuple(kind.sizes[i] for i in sizes),
        price=max(1.0, price),
    )


@lru_cache(maxsize=8)
def generate_catalogue(seed: int, size: int) -> tuple[Item, ...]:
    """``size`` items, the same for the same (seed, size); cached because every env shares it."""
    rng = random.Random(f"shop-catalogue-{seed}")
    return tuple(_item(rng, i) for i in range(size))
