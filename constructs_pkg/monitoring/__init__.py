"""What to measure (metric factories) apart from what to do about it (alarms, dashboards); the imported experiment."""
