"""djangostack-operator: a whole production Django stack from one DjangoStack resource."""

__version__ = "0.1.0"
