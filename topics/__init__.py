"""Pulse event contracts: topics, models, codecs, vendor adapters. Imports nothing of ours."""
