"""The order_views read model: one row per order, as the contract's Order shows it."""
