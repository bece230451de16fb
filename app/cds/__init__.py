"""CDS Hooks: the service a client EHR calls on chart open (views), its JWT check (auth), the request
as data (hook), the screen through the one pipeline (service) and the card (card)."""
