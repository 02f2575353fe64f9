"""`pulse tune`: sweep a rule's thresholds on your own history and pick a setting for a budget."""
