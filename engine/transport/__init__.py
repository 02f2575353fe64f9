"""What the worker needs of Kafka beside faust's own consumer and producer."""
