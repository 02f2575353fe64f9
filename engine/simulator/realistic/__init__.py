"""The realistic preset: a harder customer base to judge alert rules on (`--preset realistic`).

What it holds, and the rates chosen (each module's docstring has the detail):

- accounts (:mod:`accounts`): 3-500 seats, most small (median about 9, mean
  about 26); 72% SMB, 23% mid-market, 5% enterprise; about 58% on monthly
  contracts (SMB 70%, mid-market 35%, enterprise 10%), the rest annual;
  renewals spread over the year (annual) or over the billing days of the
  month (monthly); 10% trials of 14 or 30 days starting during the period
  (28-45% convert); 35% of existing accounts enter without a subscription
  snapshot, mid-contract, their history begun before the stream;
- engagement (:mod:`roster`): a healthy account's daily active users average
  about 20-25% of its seats (28-30% on a Monday, little at weekends);
- churn (:mod:`fates`): a hazard at each renewal, 2.2% / 1.5% / 1.0% per
  monthly renewal and 14% / 10% / 7% per annual renewal (SMB / mid-market /
  enterprise), about 12% of paid accounts in 240 days, mostly at renewal
  dates; how they leave (:mod:`churners`): champion leaves and the team fades
  35%, scheduled cancellation 32%, unrecovered renewal payment 18%, no
  warning 15%;
- of those that stay (:data:`fates.RETAINED_MIX`): 40% steady, 6% advocates,
  about 40% confounders (:mod:`retained`: seasonal dips, quiet weeks, champion
  replaced, noisy but loyal, recovered payments, withdrawn cancellations) and
  14% growth (:mod:`growth`: 8% buy more, 6% hit their limits and never buy);
- tracking outages (:mod:`outages`): usage of Segment accounts lost for 2-4
  days, and of everyone for 2-3 days in periods of 60 days or more.

Volume stays moderate: about 15 events per account and day.
"""
