"""Shared by the shop's functions through the ``common`` layer (unpacked at /opt, /opt/python is importable)."""


def order_total(items):
    """Sum of quantity × price, rounded to cents."""
    return round(sum(int(item.get("quantity", 1)) * float(item.get("price", 0)) for item in items), 2)
