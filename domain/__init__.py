"""The pure core: messages, one decider per aggregate, and the quote saga. No I/O, no clock."""
