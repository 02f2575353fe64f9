"""`pulse evaluate`: how good are the alerts? Recall and lead time against chance, precision,
volume and a naive baseline, from the billing stream itself or a simulator's truth.

Modules: ``history`` (events per account), ``outcomes`` (cancellations, trial lapses,
expansions), ``churn`` (churn-risk alert quality), ``files`` (reading inputs).
"""
