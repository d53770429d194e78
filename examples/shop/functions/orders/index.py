"""Place an order: validates the event and prices it with the ``common`` layer's helper."""

import json
import os

from shop_pricing import order_total


def handler(event, context):
    order = json.loads(event or b"{}")
    items = order.get("items", [])
    if not items:
        raise ValueError("an order needs at least one item")
    return json.dumps(
        {
            "orderId": context.request_id,
            "items": len(items),
            "total": order_total(items),
            "currency": os.environ.get("CURRENCY", "CNY"),
            "stage": os.environ.get("STAGE", "dev"),
        }
    )
