"""The worker's parts that can be read and tested without a broker."""
