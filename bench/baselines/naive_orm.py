"""The naive baseline: a strawberry schema over the SQLAlchemy ORM (AsyncSession), with
strawberry's parser and validation caches on, as a tutorial would write it.

createOrder inserts one row into its own table; order(orderId) reads the same
order_views row Orderly serves, through an ORM mapping, with the same selection set.

    BENCH_DATABASE_URL=postgresql://... uvicorn bench.baselines.naive_orm:app
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy import JSON, BigInteger, DateTime, Identity, Integer, String, Text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


class Base(DeclarativeBase):
    pass


class BaselineOrder(Base):
    """The baseline's own table for createOrder."""

    __tablename__ = "baseline_orders"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(100), unique=True)
    command_id: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[str] = mapped_column(String(100))
    items: Mapped[Any] = mapped_column(JSON)
    shipping_address: Mapped[Any] = mapped_column(JSON)
    total_amount: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrderViewRow(Base):
    """Orderly's order_views table, mapped read-only (only the columns the query needs)."""

    __tablename__ = "order_views"
    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    items: Mapped[Any] = mapped_column(JSON)
    item_count: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[str] = mapped_column(Text)
    shipping_address: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)


url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
sessions = async_sessionmaker(engine, expire_on_commit=False)


@strawberry.type
class OrderItem:
    product_id: str
    quantity: int
    price: Decimal
    line_total: Decimal


@strawberry.type
class Address:
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str


@strawberry.type
class Order:
    order_id: strawberry.ID
    customer_id: strawberry.ID
    status: str
    items: list[OrderItem]
    item_count: int
    total_amount: Decimal
    shipping_address: Address
    created_at: datetime
    shipped_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    version: int


@strawberry.input
class OrderItemInput:
    product_id: str
    quantity: int
    price: Decimal


@strawberry.input
class AddressInput:
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None


@strawberry.input
class CreateOrderInput:
    customer_id: strawberry.ID
    items: list[OrderItemInput]
    shipping_address: AddressInput
    order_id: strawberry.ID | None = None
    command_id: strawberry.ID | None = None


@strawberry.type
class CommandResult:
    order_id: strawberry.ID
    version: int
    position: int
    command_id: strawberry.ID


def to_order(row: OrderViewRow) -> Order:
    """The GraphQL type for a row."""
    items = [
        OrderItem(
            product_id=item["product_id"],
            quantity=item["quantity"],
            price=Decimal(item["price"]),
            line_total=Decimal(item["price"]) * item["quantity"],
        )
        for item in row.items
    ]
    return Order(
        order_id=strawberry.ID(row.order_id),
        customer_id=strawberry.ID(row.customer_id),
        status=row.status,
        items=items,
        item_count=row.item_count,
        total_amount=Decimal(row.total_amount),
        shipping_address=Address(**row.shipping_address),
        created_at=row.created_at,
        shipped_at=row.shipped_at,
        cancelled_at=row.cancelled_at,
        cancel_reason=row.cancel_reason,
        version=row.version,
    )


@strawberry.type
class Query:
    @strawberry.field
    async def order(self, order_id: strawberry.ID) -> Order | None:
        async with sessions() as session:
            row = await session.get(OrderViewRow, str(order_id))
            return None if row is None else to_order(row)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_order(self, input: CreateOrderInput) -> CommandResult:
        command_id = str(input.command_id or uuid.uuid4())
        order_id = str(input.order_id or uuid.uuid4())
        items = [{"product_id": i.product_id, "quantity": i.quantity, "price": str(i.price)} for i in input.items]
        total = sum((i.price * i.quantity for i in input.items), Decimal(0))
        address = input.shipping_address
        row = BaselineOrder(
            order_id=order_id,
            command_id=command_id,
            customer_id=str(input.customer_id),
            items=items,
            shipping_address={
                "line1": address.line1, "line2": address.line2, "city": address.city,
                "postal_code": address.postal_code, "country": address.country,
            },
            total_amount=str(total),
            created_at=datetime.now(UTC),
        )
        async with sessions() as session:
            session.add(row)
            await session.commit()
        return CommandResult(order_id=strawberry.ID(order_id), version=1, position=row.id, command_id=strawberry.ID(command_id))


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[lambda: ParserCache(maxsize=1024), lambda: ValidationCache(maxsize=1024)],
)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[BaselineOrder.__table__]))  # type: ignore[list-item]
    yield
    await engine.dispose()


app = Starlette(
    routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
