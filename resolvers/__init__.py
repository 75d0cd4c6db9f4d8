"""Application logic: route an order id to its adapter, run writes, merge answers. No GraphQL here."""
