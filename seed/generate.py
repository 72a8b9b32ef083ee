"""Rows of one tenant at a time, as COPY text lines, from seeded random streams.

Every random choice comes from `random.Random("<seed>/<purpose>/<tenant>")` (string seeds are
hashed with SHA-512, stable across runs and platforms), Faker only fills small name pools from
its own seeded instance, and timestamps come from `Clock`. So the same seed, scale and end date
give the same bytes. Money is in integer cents.

Sales are generated against each item's initial stock: a line only takes units that are left,
and most items keep a reserve unit, so the final quantity (initial - sold) is never negative and
most of the catalogue stays sellable for the load tests.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from faker import Faker

from lab.contract import Credential
from seed import LAB_MARKER
from seed.catalog import (
    CATEGORIES,
    GEMSTONE_WEIGHTS,
    GEMSTONES,
    KARAT_WEIGHTS,
    MAKING_CENTS_PER_GRAM,
    METAL_CODE,
    METAL_LABEL,
    METAL_WEIGHTS,
    SIGNUP_BONUS_POINTS,
    STYLES,
    TIERS,
    metal_value_cents,
    points_for,
    tier_for,
)
from seed.clock import DAY, Clock
from seed.scales import Scale, split
from seed.tables import (
    BRANCH,
    CATEGORY,
    CUSTOMER,
    ITEM,
    LEDGER,
    PAYMENT,
    SALE,
    SALE_LINE,
    TABLES,
    TENANT,
    TERMINAL,
    TIER,
    USER,
    Table,
)

NULL = "\\N"
IN_STOCK_RESERVE_SHARE = 0.85  # items that always keep one unit back
CUSTOMER_SALE_SHARE = 0.60  # sales with a known customer (they earn points)
SIGNUP_BONUS_SHARE = 0.30
SALE_NUMBER_PREFIX = "LS-"  # the app numbers its own sales "S-<hex>": never a collision
ROLES = ("cashier", "owner", "manager")  # user 0, 1, 2; the rest are cashiers
PASSWORD_ALPHABET = string.ascii_letters + string.digits
SALT_ALPHABET = string.ascii_letters + string.digits


class SeedError(RuntimeError):
    """The requested data cannot be generated; the message says what to change."""


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _weighted_table(weights: dict, size: int = 1000) -> list:
    """A lookup list where each key appears in proportion to its weight: O(1) weighted picks."""
    total = sum(weights.values())
    table: list = []
    for key, weight in weights.items():
        table.extend([key] * round(size * weight / total))
    return table


def _clean(text: str) -> str:
    # COPY text format: tabs, newlines and backslashes would need escaping; names never need them.
    return re.sub(r"[\t\n\r\\]", " ", text).strip()


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower()) or "x"


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Pools:
    """Small pools of Faker names, combined freely by the seeded RNG (fast and reproducible)."""

    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]

    @classmethod
    def build(cls, seed: int) -> Pools:
        fake = Faker("en_US")
        fake.seed_instance(seed)

        def pool(make: Callable[[], str], size: int) -> tuple[str, ...]:
            return tuple(dict.fromkeys(_clean(make()) for _ in range(size)))

        return cls(
            first_names=pool(fake.first_name, 600),
            last_names=pool(fake.last_name, 900),
            cities=pool(fake.city, 300),
            streets=pool(fake.street_name, 300),
        )


@dataclass(frozen=True)
class TenantPlan:
    index: int
    name: str
    slug: str
    created_at: int
    items: int
    customers: int
    sales: int


def plan_tenants(seed: int, scale: Scale, pools: Pools, clock: Clock) -> list[TenantPlan]:
    """Names, ages and sizes of the tenants: cheap, so an existing seeding can be recognised."""
    rng = random.Random(f"{seed}/tenants")
    # Shops differ in size: a weight per tenant shared by its items, customers and sales.
    weights = [0.6 + 0.8 * rng.random() for _ in range(scale.tenants)]
    if scale.sales:  # every shop that sells has at least one item
        items = [1 + n for n in split(scale.items - scale.tenants, weights)]
    else:
        items = split(scale.items, weights)
    customers = split(scale.customers, weights)
    sales = split(scale.sales, weights)
    plans = []
    for index in range(scale.tenants):
        last, other = rng.choice(pools.last_names), rng.choice(pools.last_names)
        city = rng.choice(pools.cities)
        name = rng.choice(
            (
                f"{last} Jewelers",
                f"{last} & {other} Fine Jewelry",
                f"{city} Gold & Diamonds",
                f"House of {last}",
                f"{last} Goldsmiths",
            )
        )
        slug = f"lab-{_slugify(name)[:40]}-{index + 1}"
        age = rng.randint(400, clock.end // DAY - 1)
        plans.append(
            TenantPlan(index, name, slug, clock.end - age * DAY, items[index], customers[index],
                       sales[index])
        )  # fmt: skip
    return plans


@dataclass
class TenantRows:
    plan: TenantPlan
    tenant_id: int
    rows: dict[Table, list[str]] = field(default_factory=dict)
    credentials: list[Credential] = field(default_factory=list)


@dataclass
class IdCounter:
    """The next id of each table: the seed assigns ids itself, in tenant order."""

    next_id: dict[Table, int]

    def take(self, table: Table, count: int) -> int:
        first = self.next_id[table]
        self.next_id[table] = first + count
        return first


# A password hasher: (password, salt) -> the encoded hash the app stores.
PasswordEncoder = Callable[[str, str], str]

_CATEGORY_PICK = _weighted_table({i: c.weight for i, c in enumerate(CATEGORIES)})
_METAL_PICK = _weighted_table(METAL_WEIGHTS)
_KARAT_PICK = _weighted_table(KARAT_WEIGHTS)
_GEM_PICK = _weighted_table(GEMSTONE_WEIGHTS)
_PAYMENT_PICK = _weighted_table({"card": 60, "cash": 30, "transfer": 10})
_LINE_COUNT_PICK = _weighted_table({1: 70, 2: 22, 3: 8})
_MEAN_UNITS_PER_SALE = 1.38 * 1.1  # mean lines per sale x mean quantity per line


class TenantGenerator:
    def __init__(
        self,
        *,
        seed: int,
        scale: Scale,
        clock: Clock,
        pools: Pools,
        encode_password: PasswordEncoder,
    ) -> None:
        self.seed = seed
        self.scale = scale
        self.clock = clock
        self.pools = pools
        self.encode_password = encode_password

    def rows(self, plans: list[TenantPlan], ids: IdCounter) -> Iterator[TenantRows]:
        for plan in plans:
            yield self.tenant(plan, ids)

    def _rng(self, purpose: str, plan: TenantPlan) -> random.Random:
        return random.Random(f"{self.seed}/{purpose}/{plan.index}")

    def tenant(self, plan: TenantPlan, ids: IdCounter) -> TenantRows:
        tenant_id = ids.take(TENANT, 1)
        out = TenantRows(plan, tenant_id, {table: [] for table in TABLES})
        fmt = self.clock.format
        out.rows[TENANT].append(
            f"{tenant_id}\t{_clean(plan.name)}\t{plan.slug}\tUSD\t{LAB_MARKER}\t{fmt(plan.created_at)}"
        )
        user_ids = self._users(plan, tenant_id, ids, out)
        terminals = self._branches(plan, tenant_id, ids, out)
        category_ids = self._categories(tenant_id, ids, out)
        tier_ids = self._tiers(tenant_id, ids, out)
        self._catalogue_and_sales(
            plan, tenant_id, ids, out, user_ids, terminals, category_ids, tier_ids
        )
        return out

    def credentials(self, plan: TenantPlan, tenant_id: int) -> list[Credential]:
        """The accounts of an already seeded tenant: same random stream, no hashing."""
        scratch = TenantRows(plan, tenant_id, {USER: []})
        ids = IdCounter({USER: 1})
        self._users(plan, tenant_id, ids, scratch, encode=lambda _password, _salt: "")
        return scratch.credentials

    def _users(
        self,
        plan: TenantPlan,
        tenant_id: int,
        ids: IdCounter,
        out: TenantRows,
        encode: PasswordEncoder | None = None,
    ) -> list[int]:
        encode = encode or self.encode_password
        rng = self._rng("users", plan)
        first_id = ids.take(USER, self.scale.users_per_tenant)
        user_ids = []
        for k in range(self.scale.users_per_tenant):
            user_id = first_id + k
            role = ROLES[k] if k < len(ROLES) else "cashier"
            email = f"{role}{k + 1}@{plan.slug}.lab.test"
            password = "".join(rng.choice(PASSWORD_ALPHABET) for _ in range(20))
            salt = "".join(rng.choice(SALT_ALPHABET) for _ in range(22))
            first, last = rng.choice(self.pools.first_names), rng.choice(self.pools.last_names)
            joined = plan.created_at + rng.randint(0, 30 * DAY)
            out.rows[USER].append(
                f"{user_id}\t{encode(password, salt)}\t{NULL}\tf\t{email}\t{first}"
                f"\t{last}\tf\tt\t{self.clock.format(joined)}\t{email}\t{role}\t{tenant_id}"
            )
            out.credentials.append(Credential(tenant_id, plan.slug, email, password, role))
            user_ids.append(user_id)
        return user_ids

    def _branches(
        self, plan: TenantPlan, tenant_id: int, ids: IdCounter, out: TenantRows
    ) -> list[tuple[int, int]]:
        rng = self._rng("branches", plan)
        count = self.scale.branches_per_tenant
        first_branch = ids.take(BRANCH, count)
        first_terminal = ids.take(TERMINAL, count * self.scale.terminals_per_branch)
        terminals = []
        for b in range(count):
            branch_id = first_branch + b
            name = (
                "Main Store"
                if b == 0
                else f"{rng.choice(self.pools.cities)} {rng.choice(self.pools.streets)}"
            )
            out.rows[BRANCH].append(f"{branch_id}\t{name}\tBR{b + 1:02d}\t{tenant_id}")
            for t in range(self.scale.terminals_per_branch):
                terminal_id = first_terminal + b * self.scale.terminals_per_branch + t
                out.rows[TERMINAL].append(
                    f"{terminal_id}\tPOS-{b + 1:02d}-{t + 1}\t{branch_id}\t{tenant_id}"
                )
                terminals.append((terminal_id, branch_id))
        return terminals

    def _categories(self, tenant_id: int, ids: IdCounter, out: TenantRows) -> list[int]:
        first = ids.take(CATEGORY, len(CATEGORIES))
        for k, category in enumerate(CATEGORIES):
            out.rows[CATEGORY].append(f"{first + k}\t{category.name}\t{category.slug}\t{tenant_id}")
        return [first + k for k in range(len(CATEGORIES))]

    def _tiers(self, tenant_id: int, ids: IdCounter, out: TenantRows) -> list[int]:
        first = ids.take(TIER, len(TIERS))
        for k, (name, min_points, discount) in enumerate(TIERS):
            out.rows[TIER].append(f"{first + k}\t{name}\t{min_points}\t{discount}\t{tenant_id}")
        return [first + k for k in range(len(TIERS))]

    def _catalogue_and_sales(
        self,
        plan: TenantPlan,
        tenant_id: int,
        ids: IdCounter,
        out: TenantRows,
        user_ids: list[int],
        terminals: list[tuple[int, int]],
        category_ids: list[int],
        tier_ids: list[int],
    ) -> None:
        fmt = self.clock.format
        branch_ids = sorted({branch for _terminal, branch in terminals})

        # Items: everything but the quantity now (prices are needed to sell), the row later.
        rng = self._rng("items", plan)
        n_items = plan.items
        first_item = ids.take(ITEM, n_items)
        expected_units = plan.sales * _MEAN_UNITS_PER_SALE / max(n_items, 1)
        prices: list[int] = []
        stock: list[int] = []
        reserve: list[int] = []
        heads: list[str] = []
        tails: list[str] = []
        item_window = max(self.clock.sales_start - plan.created_at, 1)
        for k in range(n_items):
            category = CATEGORIES[_CATEGORY_PICK[int(rng.random() * len(_CATEGORY_PICK))]]
            metal = _METAL_PICK[int(rng.random() * len(_METAL_PICK))]
            karat = _KARAT_PICK[int(rng.random() * len(_KARAT_PICK))] if metal == "gold" else None
            gem = _GEM_PICK[int(rng.random() * len(_GEM_PICK))]
            milligrams = rng.randint(*category.grams)
            low, high = MAKING_CENTS_PER_GRAM[metal]
            making = milligrams * rng.randint(low, high) // 1000
            gem_low, gem_high = GEMSTONES[gem]
            cost = (
                metal_value_cents(metal, karat, milligrams)
                + making
                + (rng.randint(gem_low, gem_high) if gem else 0)
            )
            price = cost * rng.randint(1350, 2100) // 1000 // 100 * 100 + 99  # ends in .99
            keep = 1 if rng.random() < IN_STOCK_RESERVE_SHARE else 0
            initial = keep + rng.randint(0, 4) + int(expected_units * (1 + rng.random()))
            created = plan.created_at + int(rng.random() * item_window)
            style = STYLES[int(rng.random() * len(STYLES))]
            metal_name = f"{karat}K Gold" if karat else METAL_LABEL[metal]
            gem_name = f" {gem.title()}" if gem else ""
            name = f"{style} {metal_name}{gem_name} {category.singular}"
            sku = f"{category.code}-{METAL_CODE[metal]}{karat or ''}-{k + 1:07d}"
            item_id = first_item + k
            heads.append(
                f"{item_id}\t{sku}\t{name}\t{metal}\t{karat if karat else NULL}"
                f"\t{milligrams // 1000}.{milligrams % 1000:03d}\t{gem}"
                f"\t{money(cost)}\t{money(price)}\t"
            )
            stamp = fmt(created)
            tails.append(
                f"\t{rng.randint(1, 3)}\t{stamp}\t{stamp}"
                f"\t{category_ids[CATEGORIES.index(category)]}"
                f"\t{branch_ids[int(rng.random() * len(branch_ids))]}\t{tenant_id}"
            )
            prices.append(price)
            stock.append(initial)
            reserve.append(keep)

        # Sales, in time order, against that stock; customers earn points per sale.
        rng = self._rng("sales", plan)
        n_customers = plan.customers
        first_customer = ids.take(CUSTOMER, n_customers)
        points = [0] * n_customers
        first_purchase: list[int | None] = [None] * n_customers
        times = self.clock.sale_times(rng, plan.sales)
        first_sale = ids.take(SALE, plan.sales)
        sale_rows, line_rows, payment_rows, ledger_rows = (
            out.rows[SALE], out.rows[SALE_LINE], out.rows[PAYMENT], out.rows[LEDGER]
        )  # fmt: skip
        next_line, next_payment = ids.next_id[SALE_LINE], ids.next_id[PAYMENT]
        ledger_entries: list[tuple[int, str, int, int | None]] = []  # points, reason, when, sale
        ledger_owner: list[int] = []
        for s in range(plan.sales):
            sale_id = first_sale + s
            when = times[s]
            wanted = _LINE_COUNT_PICK[int(rng.random() * len(_LINE_COUNT_PICK))]
            chosen: list[int] = []
            total = 0
            for _ in range(wanted):
                item = self._pick_item(rng, stock, reserve, chosen, must=not chosen)
                if item is None:
                    continue
                spare = stock[item] - reserve[item]
                quantity = 2 if spare >= 2 and rng.random() < 0.1 else 1
                stock[item] -= quantity
                line_total = prices[item] * quantity
                total += line_total
                chosen.append(item)
                line_rows.append(
                    f"{next_line}\t{quantity}\t{money(prices[item])}\t{money(line_total)}"
                    f"\t{first_item + item}\t{sale_id}\t{tenant_id}"
                )
                next_line += 1
            customer = NULL
            awarded = 0
            if n_customers and rng.random() < CUSTOMER_SALE_SHARE:
                c = int(n_customers * rng.random() ** 2)  # a few loyal customers buy often
                customer = str(first_customer + c)
                awarded = points_for(total)
                if first_purchase[c] is None:
                    first_purchase[c] = when
                if awarded:
                    points[c] += awarded
                    ledger_entries.append((awarded, "purchase", when, sale_id))
                    ledger_owner.append(c)
            terminal, branch = terminals[int(rng.random() * len(terminals))]
            cashier = user_ids[int(rng.random() * len(user_ids))]
            sale_rows.append(
                f"{sale_id}\t{SALE_NUMBER_PREFIX}{s + 1:08d}\tcompleted\t{money(total)}\t{awarded}"
                f"\t{fmt(when)}\t{branch}\t{cashier}\t{customer}\t{tenant_id}\t{terminal}"
            )
            if total >= 200 and rng.random() < 0.25:  # split: part cash, the rest by card
                cash = max(100, min(total - 100, total * rng.randint(10, 60) // 100 // 100 * 100))
                payment_rows.append(f"{next_payment}\tcash\t{money(cash)}\t{sale_id}\t{tenant_id}")
                payment_rows.append(
                    f"{next_payment + 1}\tcard\t{money(total - cash)}\t{sale_id}\t{tenant_id}"
                )
                next_payment += 2
            else:
                method = _PAYMENT_PICK[int(rng.random() * len(_PAYMENT_PICK))]
                payment_rows.append(
                    f"{next_payment}\t{method}\t{money(total)}\t{sale_id}\t{tenant_id}"
                )
                next_payment += 1
        ids.take(SALE_LINE, next_line - ids.next_id[SALE_LINE])
        ids.take(PAYMENT, next_payment - ids.next_id[PAYMENT])

        # Customers: joined before their first purchase; some got a sign-up bonus.
        rng = self._rng("customers", plan)
        domains = ("example.com", "example.net", "example.org")
        for c in range(n_customers):
            first, last = rng.choice(self.pools.first_names), rng.choice(self.pools.last_names)
            joined = plan.created_at + int(rng.random() * (self.clock.end - DAY - plan.created_at))
            bought = first_purchase[c]
            if bought is not None and joined > bought:
                joined = max(plan.created_at, bought - rng.randint(60, 30 * DAY))
            if rng.random() < SIGNUP_BONUS_SHARE:
                points[c] += SIGNUP_BONUS_POINTS
                ledger_entries.append((SIGNUP_BONUS_POINTS, "signup", joined, None))
                ledger_owner.append(c)
            local = f"{_letters(first)}.{_letters(last)}{c + 1}"
            email = f"{local}@{domains[c % 3]}" if rng.random() < 0.9 else ""
            phone = f"+1-{rng.randint(201, 989)}-555-{rng.randint(0, 9999):04d}"
            out.rows[CUSTOMER].append(
                f"{first_customer + c}\t{first}\t{last}\t{email}\t{phone}\t{points[c]}"
                f"\t{fmt(joined)}\t{tenant_id}\t{tier_ids[tier_for(points[c])]}"
            )
        first_ledger = ids.take(LEDGER, len(ledger_entries))
        for k, (entry_points, reason, when, sale) in enumerate(ledger_entries):
            ledger_rows.append(
                f"{first_ledger + k}\t{entry_points}\t{reason}\t{fmt(when)}"
                f"\t{first_customer + ledger_owner[k]}\t{sale if sale else NULL}\t{tenant_id}"
            )

        out.rows[ITEM] = [
            head + str(left) + tail for head, left, tail in zip(heads, stock, tails, strict=True)
        ]

    @staticmethod
    def _pick_item(
        rng: random.Random, stock: list[int], reserve: list[int], chosen: list[int], *, must: bool
    ) -> int | None:
        n = len(stock)
        for _ in range(8):
            item = int(rng.random() * n)
            if stock[item] > reserve[item] and item not in chosen:
                return item
        if not must:
            return None
        # Rare: scan from a random start, first above the reserve, then down to the last unit.
        start = int(rng.random() * n)
        for floor in (reserve, None):
            for offset in range(n):
                item = (start + offset) % n
                if stock[item] > (floor[item] if floor else 0) and item not in chosen:
                    return item
        raise SeedError("not enough stock for the requested sales: raise --items or lower --sales")
