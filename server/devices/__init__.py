"""Customers (with their subscription), enrollment codes and enrolled devices."""
