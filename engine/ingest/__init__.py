"""`pulse ingest`: the webhook bridge from Stripe and Segment/RudderStack to Pulse's input topics.

`auth` checks who sent a request (pure: the time is passed in), `publisher`
owns the Kafka producer, `app` is the HTTP surface, `cli` the command.
"""
