"""Adapters from vendor event shapes (Segment/RudderStack, Stripe) to Pulse models."""

from topics.adapters.segment import from_segment, is_segment
from topics.adapters.stripe import AccountResolver, from_stripe, is_stripe

__all__ = ["AccountResolver", "from_segment", "from_stripe", "is_segment", "is_stripe"]
