"""The write side's storage: the event log, its codec and the notification bus."""
