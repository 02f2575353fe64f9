"""Pulse's pure signals core: rolling metrics, health, rules and triggers.

No Kafka, Redis, asyncio or clock here: the engine passes state, events and time in.
"""
