"""The product catalog, as an event function: ``{"sku": "..."}`` → the product, or the whole list."""

import json

PRODUCTS = {
    "tea": {"sku": "tea", "name": "Green tea", "price": 12.5},
    "cup": {"sku": "cup", "name": "Tea cup", "price": 30.0},
}


def handler(event, context):
    request = json.loads(event or b"{}")
    sku = request.get("sku")
    if sku is None:
        return json.dumps(sorted(PRODUCTS.values(), key=lambda p: p["sku"]))
    if sku not in PRODUCTS:
        raise KeyError(f"unknown sku {sku!r}")
    return json.dumps(PRODUCTS[sku])
