"""The customer_summaries read model: order counts and lifetime value per customer."""
